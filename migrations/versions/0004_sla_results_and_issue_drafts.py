"""SLA results keyed by issue first; issue drafts keep what Jira will be sent, their suggestion and duplicates, and how creating went

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 12:10:00.000000

sla_results: evaluations read an issue's results, so the unique key leads with the issue and the
separate issue index goes, as does the workspace's foreign key (the policy's already ties each result to
its workspace): one index and one key check fewer on every insert.
issue_drafts of 0001 was never used; its new columns are added with defaults all the same.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

OLD_STATUSES = ('pending_approval', 'approved', 'rejected', 'creating', 'created', 'failed')
NEW_STATUSES = OLD_STATUSES + ('withdrawn', 'linked_existing')
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    with op.batch_alter_table('sla_results', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_results_issue')
        batch_op.drop_constraint('fk_sla_results_organization_id_organizations', type_='foreignkey')
        batch_op.drop_constraint('uq_sla_results_policy_issue_cycle', type_='unique')
        batch_op.create_unique_constraint('uq_sla_results_issue_policy_cycle', ['issue_id', 'policy_id', 'cycle'])
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requested_by_email', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('stakeholder_ids', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('approvals_required', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('preview', JSON, nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('suggestion', JSON, nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('duplicates', JSON, nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('jira_issue_id', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('jira_url', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('first_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('locked_by', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_constraint(op.f('ck_issue_drafts_draft_status'), type_='check')
        batch_op.create_check_constraint('draft_status', sa.column('status').in_(NEW_STATUSES))
        batch_op.create_index('ix_issue_drafts_status_next', ['status', 'next_attempt_at'], unique=False)
    # The defaults only filled existing rows: the application always writes these columns.
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        for name in ('stakeholder_ids', 'approvals_required', 'preview', 'suggestion', 'duplicates', 'attempts'):
            batch_op.alter_column(name, server_default=None)


def downgrade():
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_drafts_status_next')
        batch_op.drop_constraint(op.f('ck_issue_drafts_draft_status'), type_='check')
        batch_op.create_check_constraint('draft_status', sa.column('status').in_(OLD_STATUSES))
        for name in ('locked_at', 'locked_by', 'first_attempt_at', 'next_attempt_at', 'attempts', 'jira_url',
                     'jira_issue_id', 'duplicates', 'suggestion', 'preview', 'approvals_required',
                     'stakeholder_ids', 'requested_by_email'):
            batch_op.drop_column(name)
    with op.batch_alter_table('sla_results', schema=None) as batch_op:
        batch_op.drop_constraint('uq_sla_results_issue_policy_cycle', type_='unique')
        batch_op.create_unique_constraint('uq_sla_results_policy_issue_cycle', ['policy_id', 'issue_id', 'cycle'])
        batch_op.create_index('ix_sla_results_issue', ['issue_id'], unique=False)
        batch_op.create_foreign_key('fk_sla_results_organization_id_organizations', 'organizations',
                                    ['organization_id'], ['id'], ondelete='CASCADE')
