"""Conversation state between chat messages: the question waiting for an answer and what was last spoken of.

Kept in the database (Redis is not always there), one row per workspace, user and the client's
conversation id, so a follow-up is only ever read back by the user who asked, in the workspace they
asked in. A conversation quiet for CONVERSATION_TTL is forgotten; expired rows are deleted when a new
conversation starts (through the `expires_at` index).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update

from connect_app.extensions import db
from connect_app.models import ChatConversation
from connect_app.models.types import utcnow
from connect_app.platform import claims

CONVERSATION_TTL = timedelta(minutes=30)
CONVERSATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")


def load(organization_id: str, user_id: str, conversation_id: str, now: datetime | None = None) -> dict[str, Any]:
    """The conversation's state ({} when it is new or has expired)."""
    row = db.session.scalar(select(ChatConversation).where(
        ChatConversation.organization_id == organization_id, ChatConversation.user_id == user_id,
        ChatConversation.conversation_id == conversation_id))
    if row is None or row.expires_at <= (now or utcnow()):
        return {}
    return dict(row.state or {})


def save(organization_id: str, user_id: str, conversation_id: str, state: dict[str, Any],
         now: datetime | None = None) -> None:
    """Store the conversation's state and push its expiry CONVERSATION_TTL ahead (commits)."""
    now = now or utcnow()
    values = {"state": state, "expires_at": now + CONVERSATION_TTL, "updated_at": now}
    db.session.commit()  # anything the answer wrote is committed durably, on its own
    if db.session.get_bind().dialect.name == "postgresql":
        # A conversation's state is disposable (a lost follow-up is asked again): this commit need not wait
        # for its WAL flush. Only this transaction is affected, and the data stays consistent either way.
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    mine = (ChatConversation.organization_id == organization_id, ChatConversation.user_id == user_id,
            ChatConversation.conversation_id == conversation_id)
    if not db.session.execute(update(ChatConversation).where(*mine).values(**values)).rowcount:
        # A new conversation. Two first messages at once: one insert wins, the other updates it.
        if claims.insert_ignore(ChatConversation, {
                "organization_id": organization_id, "user_id": user_id, "conversation_id": conversation_id,
                "created_at": now, **values}, conflict=("organization_id", "user_id", "conversation_id")):
            db.session.execute(delete(ChatConversation).where(ChatConversation.expires_at < now))
        else:
            db.session.execute(update(ChatConversation).where(*mine).values(**values))
    db.session.commit()
