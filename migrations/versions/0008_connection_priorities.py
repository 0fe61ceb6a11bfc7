"""The priority order of each Jira site (its `GET /priority` list, highest first)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00.000000

Sorting issues by priority and telling "raised" from "lowered" follow the site's own scheme, not
the alphabet or Jira's default names: each sync stores the site's list, so sorting never calls Jira.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priorities', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))


def downgrade():
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.drop_column('priorities')
