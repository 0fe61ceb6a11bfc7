"""OAuth flows bound to the browser that opened them; webhook deliveries deduplicated by their signed body

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 14:00:00.000000

`oauth_states.browser_hash` is the SHA-256 of the secret cookie set when the authorize link is opened
through the service: the callback must come from that browser. `webhook_inbox.body_sha256`, unique per
connection, stores a signed body once even when it is replayed with a fresh identifier header.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('oauth_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('browser_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body_sha256', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint('uq_webhook_inbox_connection_body', ['connection_id', 'body_sha256'])


def downgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_constraint('uq_webhook_inbox_connection_body', type_='unique')
        batch_op.drop_column('body_sha256')
    with op.batch_alter_table('oauth_states', schema=None) as batch_op:
        batch_op.drop_column('browser_hash')
