"""Forge installations: a connection kind of its own, keyed by the installation id Forge gives

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 14:00:00.000000

A Forge install is keyed by `app.installationId`; a site that had our Connect app keeps its row (and so
its customers, links and history) and is re-keyed to Forge. The app system token Forge sends with each
invocation is cached in the existing encrypted `access_token_encrypted` column with `token_expires_at`.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OLD_KINDS = ('connect', 'oauth', 'server')
NEW_KINDS = OLD_KINDS + ('forge',)


def upgrade():
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('installation_id', sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint('uq_jira_connections_installation_id', ['installation_id'])
        batch_op.drop_constraint(op.f('ck_jira_connections_connection_kind'), type_='check')
        batch_op.create_check_constraint('connection_kind', sa.column('kind').in_(NEW_KINDS))


def downgrade():
    op.execute("DELETE FROM jira_connections WHERE kind = 'forge' AND client_key IS NULL")
    op.execute("UPDATE jira_connections SET kind = 'connect' WHERE kind = 'forge'")
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_jira_connections_connection_kind'), type_='check')
        batch_op.create_check_constraint('connection_kind', sa.column('kind').in_(OLD_KINDS))
        batch_op.drop_constraint('uq_jira_connections_installation_id', type_='unique')
        batch_op.drop_column('installation_id')
