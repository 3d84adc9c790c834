"""qa assignments: who reviews each QA card, and why (weekly sample, reassignment)

Revision ID: b3e8d1f0c4a7
Revises: a1d7c3e9b5f2
Create Date: 2026-12-07 09:20:00.000000

"""
from alembic import op
import sqlalchemy as sa

import b24app.models_base


# revision identifiers, used by Alembic.
revision = 'b3e8d1f0c4a7'
down_revision = 'a1d7c3e9b5f2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('qa_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('qa_item_id', sa.BigInteger(), nullable=False),
    sa.Column('call_id', sa.String(length=128), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('week', sa.String(length=10), nullable=True),
    sa.Column('assigned_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'qa_item_id')
    )
    with op.batch_alter_table('qa_assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_assignments_portal_id'), ['portal_id'], unique=False)
        batch_op.create_index('ix_qa_assignments_portal_reviewer', ['portal_id', 'reviewer_id', 'reason'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('qa_assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_qa_assignments_portal_reviewer')
        batch_op.drop_index(batch_op.f('ix_qa_assignments_portal_id'))

    op.drop_table('qa_assignments')
