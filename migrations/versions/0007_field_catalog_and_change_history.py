"""Field catalogs of Jira sites (custom fields by name) and the field-by-field change history of issues

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:00:00.000000

`jira_fields` holds what each connection's `GET /field` answered at its last sync (names and value
types), so pages and the API name custom fields without calling Jira. `issue_field_changes` holds
every changelog item a webhook or a sync saw: who changed which field from what to what, and when.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('jira_fields',
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('field_id', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('custom', sa.Boolean(), nullable=False),
    sa.Column('schema_type', sa.String(length=60), nullable=True),
    sa.Column('schema_items', sa.String(length=60), nullable=True),
    sa.Column('custom_type', sa.String(length=255), nullable=True),
    sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_jira_fields_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', 'field_id', name=op.f('pk_jira_fields'))
    )
    with op.batch_alter_table('jira_fields', schema=None) as batch_op:
        batch_op.create_index('ix_jira_fields_connection_name', ['connection_id', 'name_key'], unique=False)

    op.create_table('issue_field_changes',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('change_id', sa.String(length=60), nullable=False),
    sa.Column('field_key', sa.String(length=255), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=255), nullable=False),
    sa.Column('from_value', sa.Text(), nullable=True),
    sa.Column('to_value', sa.Text(), nullable=True),
    sa.Column('author_id', sa.String(length=200), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_issue_field_changes_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_issue_field_changes_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_field_changes')),
    sa.UniqueConstraint('issue_id', 'change_id', 'field_key', 'seq', name='uq_issue_field_changes_item')
    )
    with op.batch_alter_table('issue_field_changes', schema=None) as batch_op:
        batch_op.create_index('ix_issue_field_changes_issue_changed', ['issue_id', 'changed_at'], unique=False)


def downgrade():
    with op.batch_alter_table('issue_field_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_field_changes_issue_changed')

    op.drop_table('issue_field_changes')
    with op.batch_alter_table('jira_fields', schema=None) as batch_op:
        batch_op.drop_index('ix_jira_fields_connection_name')

    op.drop_table('jira_fields')
