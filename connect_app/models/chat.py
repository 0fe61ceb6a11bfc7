"""Chat conversations: what a conversation waits for (a choice, a missing customer or issue), and what it last
spoke of, kept between messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connect_app.extensions import db
from connect_app.models.types import JSONType, UTCDateTime, new_uuid, utcnow


class ChatConversation(db.Model):
    """One user's chat conversation in a workspace (the client names it); forgotten after a while of silence.

    `state` holds `pending` (the command waiting for an answer, and the choices offered) and the customer
    and issue the conversation last spoke of.
    """

    __tablename__ = "chat_conversations"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", "conversation_id",
                         name="uq_chat_conversations_org_user_conversation"),
        Index("ix_chat_conversations_expires", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(200))
    conversation_id: Mapped[str] = mapped_column(String(100))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
