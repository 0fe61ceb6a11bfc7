"""Indexes for claiming webhook deliveries in batches

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 18:00:00.000000

The inbox is drained in batches, oldest first (`status, received_at`), and a delivery is not claimed
while another delivery of the same issue is being processed (`connection_id, jira_key, status`).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_inbox_status_received', ['status', 'received_at'], unique=False)
        batch_op.create_index('ix_webhook_inbox_issue_status', ['connection_id', 'jira_key', 'status'], unique=False)


def downgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_inbox_issue_status')
        batch_op.drop_index('ix_webhook_inbox_status_received')
