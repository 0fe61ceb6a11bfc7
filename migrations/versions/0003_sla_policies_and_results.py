"""SLA policies as the SLA engine defines them, their per-issue results, SLA alert kinds

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 10:32:56.213412

The sla_policies and sla_events tables of 0001 were never used: they are replaced, not migrated.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

EVENT_KINDS = ('created', 'resolved', 'reopened', 'moved_to_development', 'priority_changed', 'assignee_changed',
               'status_changed', 'deleted')
SLA_KINDS = ('sla_at_risk', 'sla_breached')


def _event_kind(kinds):
    return sa.Enum(*kinds, name='issue_event_kind', native_enum=False, create_constraint=True)


def upgrade():
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_events_org_occurred')
    op.drop_table('sla_events')
    op.drop_table('sla_policies')
    op.create_table('sla_policies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('metric', sa.Enum('time_to_resolution', 'time_to_development', 'time_in_status', name='sla_metric', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('definition', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('warn_at_percent', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('warn_at_percent > 0 AND warn_at_percent <= 100', name=op.f('ck_sla_policies_warn_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sla_policies_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_sla_policies_org_name')
    )
    op.create_table('sla_results',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('state', sa.Enum('running', 'paused', 'at_risk', 'breached', 'met', 'met_late', name='sla_state', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('elapsed_seconds', sa.Integer(), nullable=False),
    sa.Column('target_seconds', sa.Integer(), nullable=False),
    sa.Column('warn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breach_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('breached_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_check_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evaluated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_sla_results_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sla_results_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_sla_results_policy_id_sla_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_results')),
    sa.UniqueConstraint('policy_id', 'issue_id', 'cycle', name='uq_sla_results_policy_issue_cycle')
    )
    with op.batch_alter_table('sla_results', schema=None) as batch_op:
        batch_op.create_index('ix_sla_results_issue', ['issue_id'], unique=False)
        batch_op.create_index('ix_sla_results_next_check', ['next_check_at'], unique=False)
        batch_op.create_index('ix_sla_results_org_state', ['organization_id', 'state'], unique=False)
    # SLA alerts are issue events (once per policy, issue, cycle and state, fanned out like the others).
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_issue_events_issue_event_kind'), type_='check')
        batch_op.create_check_constraint('issue_event_kind', sa.column('kind').in_(EVENT_KINDS + SLA_KINDS))


def downgrade():
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_issue_events_issue_event_kind'), type_='check')
        batch_op.create_check_constraint('issue_event_kind', sa.column('kind').in_(EVENT_KINDS))
    with op.batch_alter_table('sla_results', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_results_org_state')
        batch_op.drop_index('ix_sla_results_next_check')
        batch_op.drop_index('ix_sla_results_issue')
    op.drop_table('sla_results')
    op.drop_table('sla_policies')
    op.create_table('sla_policies',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('selector', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('clock', sa.String(length=40), nullable=False),
    sa.Column('target_minutes', sa.Integer(), nullable=False),
    sa.Column('warn_at_percent', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('target_minutes > 0', name=op.f('ck_sla_policies_target_positive')),
    sa.CheckConstraint('warn_at_percent > 0 AND warn_at_percent <= 100', name=op.f('ck_sla_policies_warn_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sla_policies_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_policies')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_sla_policies_org_name')
    )
    op.create_table('sla_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('policy_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('warning', 'breached', 'met', name='sla_event_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('cycle', sa.Integer(), nullable=False),
    sa.Column('elapsed_minutes', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_sla_events_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sla_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['policy_id'], ['sla_policies.id'], name=op.f('fk_sla_events_policy_id_sla_policies'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sla_events')),
    sa.UniqueConstraint('policy_id', 'issue_id', 'kind', 'cycle', name='uq_sla_events_policy_issue_kind_cycle')
    )
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.create_index('ix_sla_events_org_occurred', ['organization_id', 'occurred_at'], unique=False)
