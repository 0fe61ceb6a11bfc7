"""Webhook deliveries keep their body as received when what we store had to be cleaned

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 10:00:00.000000

Jira issue text can hold what PostgreSQL cannot store (NUL, unpaired surrogates, NaN): the inbox's
JSON payload holds a cleaned copy that every database accepts, and `raw_body` the bytes Jira signed,
kept only for those deliveries (for an audit or a re-run with better cleaning).
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_body', sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_column('raw_body')
