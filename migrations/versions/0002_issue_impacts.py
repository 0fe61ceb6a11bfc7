"""Issue impacts: how badly each linked issue hurts customers, and what Jira's issue property holds

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 08:27:15.837763

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('issue_impacts',
    sa.Column('issue_id', sa.Uuid(), nullable=False),
    sa.Column('organization_id', sa.String(length=64), nullable=False),
    sa.Column('connection_id', sa.Uuid(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('severity', sa.Enum('critical', 'high', 'medium', 'low', name='impact_severity', native_enum=False, create_constraint=True), nullable=False),
    sa.Column('customers', sa.Integer(), nullable=False),
    sa.Column('tiers', sa.Integer(), nullable=False),
    sa.Column('arr', sa.Numeric(precision=16, scale=2), nullable=False),
    sa.Column('factors', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('band_version', sa.Integer(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('property_digest', sa.String(length=64), nullable=True),
    sa.Column('written_digest', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['jira_connections.id'], name=op.f('fk_issue_impacts_connection_id_jira_connections'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['issue_id'], ['jira_issues.id'], name=op.f('fk_issue_impacts_issue_id_jira_issues'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_issue_impacts_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('issue_id', name=op.f('pk_issue_impacts'))
    )
    with op.batch_alter_table('issue_impacts', schema=None) as batch_op:
        batch_op.create_index('ix_issue_impacts_connection', ['connection_id'], unique=False)
        batch_op.create_index('ix_issue_impacts_org_score', ['organization_id', 'score'], unique=False)



def downgrade():
    with op.batch_alter_table('issue_impacts', schema=None) as batch_op:
        batch_op.drop_index('ix_issue_impacts_org_score')
        batch_op.drop_index('ix_issue_impacts_connection')

    op.drop_table('issue_impacts')
