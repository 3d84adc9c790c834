"""qa calibrations (rounds where several reviewers score one call blind); calls found by their QA card id

Revision ID: c6f2a8d4e9b1
Revises: b3e8d1f0c4a7
Create Date: 2026-12-07 08:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

import b24app.models_base

revision = 'c6f2a8d4e9b1'
down_revision = 'b3e8d1f0c4a7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'qa_calibrations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('portal_id', sa.Integer(), nullable=False),
        sa.Column('qa_item_id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.String(length=64), nullable=False),
        sa.Column('checklist_id', sa.Integer(), nullable=False),
        sa.Column('version_id', sa.Integer(), nullable=False),
        sa.Column('reviewers', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=False),
        sa.Column('created_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['checklist_id'], ['qa_checklists.id']),
        sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['version_id'], ['qa_checklist_versions.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('qa_calibrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_calibrations_portal_id'), ['portal_id'], unique=False)
    op.create_index('ix_calls_portal_qa_item', 'calls', ['portal_id', 'qa_item_id'], unique=False)


def downgrade():
    op.drop_index('ix_calls_portal_qa_item', table_name='calls')
    with op.batch_alter_table('qa_calibrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_calibrations_portal_id'))
    op.drop_table('qa_calibrations')
