"""Chat conversations: what each user's conversation waits for, kept between messages until it goes quiet; customers indexed by their latest change

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 09:00:00.000000

A follow-up ("the first one", "Acme Labs") answers the question the previous message asked; the question
is kept here, keyed by workspace, user and the client's conversation id, and forgotten at `expires_at`.
The chat's customer name index is rebuilt when a workspace's customer count or latest `updated_at`
moves: ix_customers_org_updated answers that from the index alone.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('chat_conversations',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('conversation_id', sa.String(length=100), nullable=False),
    sa.Column('state', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_chat_conversations_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_conversations')),
    sa.UniqueConstraint('organization_id', 'user_id', 'conversation_id', name='uq_chat_conversations_org_user_conversation')
    )
    with op.batch_alter_table('chat_conversations', schema=None) as batch_op:
        batch_op.create_index('ix_chat_conversations_expires', ['expires_at'], unique=False)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_org_updated', ['organization_id', 'updated_at'], unique=False)


def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_org_updated')
    with op.batch_alter_table('chat_conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_chat_conversations_expires')

    op.drop_table('chat_conversations')
