"""Initial schema: the whole data model of the product

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-27 02:31:05.206728

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('organizations',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations'))
    )
    op.create_table('customers',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=100), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=True),
    sa.Column('arr', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('tier', sa.Enum('enterprise', 'mid_market', 'smb', 'startup', name='customer_tier', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('health_score', sa.Integer(), nullable=True),
    sa.Column('renewal_date', sa.Date(), nullable=True),
    sa.Column('csm_owner_id', sa.String(length=200), nullable=True),
    sa.Column('csm_owner_email', sa.String(length=320), nullable=True),
    sa.Column('stakeholders', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('jira_context_digest', sa.String(length=64), nullable=True),
    sa.Column('jira_context_message_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('arr >= 0', name=op.f('ck_customers_arr_non_negative')),
    sa.CheckConstraint('health_score >= 0 AND health_score <= 100', name=op.f('ck_customers_health_score_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_customers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('organization_id', 'external_id', name='uq_customers_org_external_id'),
    sa.UniqueConstraint('organization_id', 'slug', name='uq_customers_org_slug')
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index('ix_customers_org_name_key', ['organization_id', 'name_key'], unique=False)

    op.create_table('jira_connections',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.Enum('connect', 'oauth', 'server', name='connection_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('status', sa.Enum('pending', 'active', 'disabled', 'needs_reauth', 'uninstalled', name='connection_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('base_url', sa.String(length=500), nullable=False),
    sa.Column('display_url', sa.String(length=500), nullable=True),
    sa.Column('client_key', sa.String(length=200), nullable=True),
    sa.Column('cloud_id', sa.String(length=100), nullable=True),
    sa.Column('deployment', sa.String(length=20), nullable=False),
    sa.Column('server_version', sa.String(length=40), nullable=True),
    sa.Column('auth_user', sa.String(length=200), nullable=True),
    sa.Column('shared_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('access_token_encrypted', sa.Text(), nullable=True),
    sa.Column('refresh_token_encrypted', sa.Text(), nullable=True),
    sa.Column('api_token_encrypted', sa.Text(), nullable=True),
    sa.Column('webhook_secret_encrypted', sa.Text(), nullable=True),
    sa.Column('token_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('scopes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status_map', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('webhooks', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('webhooks_expire_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_watermark', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_checkpoint', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('next_sync_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('uninstalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('purge_after', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_jira_connections_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jira_connections')),
    sa.UniqueConstraint('client_key', name='uq_jira_connections_client_key'),
    sa.UniqueConstraint('organization_id', 'cloud_id', name='uq_jira_connections_org_cloud_id')
    )
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.create_index('ix_jira_connections_org_status', ['organization_id', 'status'], unique=False)

    op.create_table('oauth_states',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('code_verifier_encrypted', sa.Text(), nullable=True),
    sa.Column('redirect_after', sa.String(length=500), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_oauth_states_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_states'))
    )
    op.create_table('outbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=80), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('pending', 'delivering', 'delivered', 'dead', name='outbox_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('locked_by', sa.String(length=120), nullable=True),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_outbox_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_outbox_idempotency_key'))
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status_next', ['status', 'next_attempt_at'], unique=False)

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
    op.create_table('audit_log',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=True),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('actor_type', sa.Enum('cscx_user', 'jira_user', 'system', name='actor_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('actor_id', sa.String(length=200), nullable=True),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('target_type', sa.String(length=40), nullable=True),
    sa.Column('target_id', sa.String(length=200), nullable=True),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_audit_log_connection_id_jira_connections'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_audit_log_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_org_created', ['organization_id', 'created_at'], unique=False)

    op.create_table('issue_drafts',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('project_key', sa.String(length=40), nullable=False),
    sa.Column('issue_type', sa.String(length=50), nullable=False),
    sa.Column('summary', sa.String(length=255), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('priority', sa.String(length=50), nullable=True),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('extra_fields', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('link_type', sa.String(length=20), nullable=False),
    sa.Column('status', sa.Enum('pending_approval', 'approved', 'rejected', 'creating', 'created', 'failed', name='draft_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('requested_by', sa.String(length=200), nullable=False),
    sa.Column('jira_key', sa.String(length=60), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_issue_drafts_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_issue_drafts_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_issue_drafts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_drafts'))
    )
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.create_index('ix_issue_drafts_org_status', ['organization_id', 'status'], unique=False)

    op.create_table('jira_issues',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('jira_id', sa.String(length=40), nullable=False),
    sa.Column('jira_key', sa.String(length=60), nullable=False),
    sa.Column('project_key', sa.String(length=40), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('issue_type', sa.String(length=50), nullable=True),
    sa.Column('status', sa.String(length=80), nullable=True),
    sa.Column('status_id', sa.String(length=40), nullable=True),
    sa.Column('status_category', sa.Enum('new', 'indeterminate', 'done', name='status_category', native_enum=False, create_constraint=True), nullable=True),
    sa.Column('priority', sa.String(length=50), nullable=True),
    sa.Column('resolution', sa.String(length=80), nullable=True),
    sa.Column('assignee_id', sa.String(length=200), nullable=True),
    sa.Column('assignee_name', sa.String(length=200), nullable=True),
    sa.Column('reporter_id', sa.String(length=200), nullable=True),
    sa.Column('reporter_name', sa.String(length=200), nullable=True),
    sa.Column('labels', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('components', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('custom_fields', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version_ts', sa.BigInteger(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_jira_issues_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jira_issues')),
    sa.UniqueConstraint('connection_id', 'jira_id', name='uq_jira_issues_connection_jira_id'),
    sa.UniqueConstraint('connection_id', 'jira_key', name='uq_jira_issues_connection_key')
    )
    with op.batch_alter_table('jira_issues', schema=None) as batch_op:
        batch_op.create_index('ix_jira_issues_connection_category', ['connection_id', 'status_category'], unique=False)
        batch_op.create_index('ix_jira_issues_connection_updated', ['connection_id', 'updated_at'], unique=False)

    op.create_table('link_codes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_link_codes_connection_id_jira_connections'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_link_codes_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_link_codes_code_hash'))
    )
    op.create_table('linking_rules',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('strategy', sa.Enum('custom_field', 'label', 'component', 'jql', name='rule_strategy', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('field', sa.String(length=200), nullable=True),
    sa.Column('field_id', sa.String(length=100), nullable=True),
    sa.Column('value', sa.String(length=500), nullable=True),
    sa.Column('jql', sa.Text(), nullable=True),
    sa.Column('link_type', sa.Enum('affected', 'requested', 'watching', name='rule_link_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("(strategy = 'jql' AND jql IS NOT NULL) OR (strategy <> 'jql' AND value IS NOT NULL)", name=op.f('ck_linking_rules_rule_has_operand')),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_linking_rules_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_linking_rules_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_linking_rules_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_linking_rules'))
    )
    with op.batch_alter_table('linking_rules', schema=None) as batch_op:
        batch_op.create_index('ix_linking_rules_org_customer', ['organization_id', 'customer_id'], unique=False)

    op.create_table('subscriptions',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('user_email', sa.String(length=320), nullable=True),
    sa.Column('scope', sa.Enum('issue', 'customer', 'owner', name='subscription_scope', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=True),
    sa.Column('jira_key', sa.String(length=60), nullable=True),
    sa.Column('customer_id', sa.Uuid(), nullable=True),
    sa.Column('event_kinds', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_subscriptions_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_subscriptions_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_subscriptions_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriptions')),
    sa.UniqueConstraint('organization_id', 'user_id', 'target', name='uq_subscriptions_org_user_target')
    )
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.create_index('ix_subscriptions_org_target', ['organization_id', 'target'], unique=False)

    op.create_table('sync_runs',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('counts', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('checkpoint', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_sync_runs_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_runs'))
    )
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index('ix_sync_runs_connection_started', ['connection_id', 'started_at'], unique=False)

    op.create_table('webhook_inbox',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('delivery_id', sa.String(length=200), nullable=False),
    sa.Column('event_type', sa.String(length=80), nullable=False),
    sa.Column('jira_key', sa.String(length=60), nullable=True),
    sa.Column('event_ts', sa.BigInteger(), nullable=True),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status', sa.Enum('pending', 'processing', 'done', 'failed', 'dead', name='inbox_status', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('locked_by', sa.String(length=120), nullable=True),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_webhook_inbox_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_inbox')),
    sa.UniqueConstraint('connection_id', 'delivery_id', name='uq_webhook_inbox_connection_delivery')
    )
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_inbox_status_next', ['status', 'next_attempt_at'], unique=False)

    op.create_table('draft_approvals',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('draft_id', sa.Uuid(), nullable=False),
    sa.Column('approver_id', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['draft_id'], ['issue_drafts.id'], name=op.f('fk_draft_approvals_draft_id_issue_drafts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_draft_approvals_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_draft_approvals')),
    sa.UniqueConstraint('draft_id', 'approver_id', name='uq_draft_approvals_draft_approver')
    )
    op.create_table('issue_events',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=True),
    sa.Column('jira_key', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.Enum('created', 'resolved', 'reopened', 'moved_to_development', 'priority_changed', 'assignee_changed', 'status_changed', 'deleted', name='issue_event_kind', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_issue_events_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_issue_events_issue_id_jira_issues'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_events')),
    sa.UniqueConstraint('connection_id', 'dedupe_key', name='uq_issue_events_connection_dedupe')
    )
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.create_index('ix_issue_events_connection_key', ['connection_id', 'jira_key'], unique=False)

    op.create_table('issue_status_history',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('change_id', sa.String(length=60), nullable=False),
    sa.Column('from_status', sa.String(length=80), nullable=True),
    sa.Column('to_status', sa.String(length=80), nullable=True),
    sa.Column('from_category', sa.String(length=20), nullable=True),
    sa.Column('to_category', sa.String(length=20), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('changed_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_issue_status_history_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_issue_status_history_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_status_history')),
    sa.UniqueConstraint('issue_id', 'change_id', name='uq_issue_status_history_issue_change')
    )
    with op.batch_alter_table('issue_status_history', schema=None) as batch_op:
        batch_op.create_index('ix_issue_status_history_issue_changed', ['issue_id', 'changed_at'], unique=False)

    op.create_table('jira_customer_links',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('jira_key', sa.String(length=60), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('link_type', sa.Enum('affected', 'requested', 'watching', name='link_type', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('source', sa.Enum('rule', 'manual', 'created', name='link_source', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('rule_id', sa.Uuid(), nullable=True),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_jira_customer_links_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_jira_customer_links_customer_id_customers'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_jira_customer_links_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['linking_rules.id'], name=op.f('fk_jira_customer_links_rule_id_linking_rules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jira_customer_links')),
    sa.UniqueConstraint('issue_id', 'customer_id', name='uq_jira_customer_links_issue_customer')
    )
    with op.batch_alter_table('jira_customer_links', schema=None) as batch_op:
        batch_op.create_index('ix_jira_customer_links_connection_key', ['connection_id', 'jira_key'], unique=False)
        batch_op.create_index('ix_jira_customer_links_customer', ['customer_id'], unique=False)

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

    op.create_table('notifications',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=200), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('jira_key', sa.String(length=60), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['event_id'], ['issue_events.id'], name=op.f('fk_notifications_event_id_issue_events'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_notifications_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('organization_id', 'user_id', 'event_id', name='uq_notifications_org_user_event')
    )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_org_user_created', ['organization_id', 'user_id', 'created_at'], unique=False)



def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_org_user_created')

    op.drop_table('notifications')
    with op.batch_alter_table('sla_events', schema=None) as batch_op:
        batch_op.drop_index('ix_sla_events_org_occurred')

    op.drop_table('sla_events')
    with op.batch_alter_table('jira_customer_links', schema=None) as batch_op:
        batch_op.drop_index('ix_jira_customer_links_customer')
        batch_op.drop_index('ix_jira_customer_links_connection_key')

    op.drop_table('jira_customer_links')
    with op.batch_alter_table('issue_status_history', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_status_history_issue_changed')

    op.drop_table('issue_status_history')
    with op.batch_alter_table('issue_events', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_events_connection_key')

    op.drop_table('issue_events')
    op.drop_table('draft_approvals')
    with op.batch_alter_table('webhook_inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_inbox_status_next')

    op.drop_table('webhook_inbox')
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_connection_started')

    op.drop_table('sync_runs')
    with op.batch_alter_table('subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscriptions_org_target')

    op.drop_table('subscriptions')
    with op.batch_alter_table('linking_rules', schema=None) as batch_op:
        batch_op.drop_index('ix_linking_rules_org_customer')

    op.drop_table('linking_rules')
    op.drop_table('link_codes')
    with op.batch_alter_table('jira_issues', schema=None) as batch_op:
        batch_op.drop_index('ix_jira_issues_connection_updated')
        batch_op.drop_index('ix_jira_issues_connection_category')

    op.drop_table('jira_issues')
    with op.batch_alter_table('issue_drafts', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_drafts_org_status')

    op.drop_table('issue_drafts')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_org_created')

    op.drop_table('audit_log')
    op.drop_table('sla_policies')
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status_next')

    op.drop_table('outbox')
    op.drop_table('oauth_states')
    with op.batch_alter_table('jira_connections', schema=None) as batch_op:
        batch_op.drop_index('ix_jira_connections_org_status')

    op.drop_table('jira_connections')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index('ix_customers_org_name_key')

    op.drop_table('customers')
    op.drop_table('organizations')
