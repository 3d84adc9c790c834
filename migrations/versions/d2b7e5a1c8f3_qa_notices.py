"""qa notices: the manager's and the arbiter's chat messages about a score, sent once

Revision ID: d2b7e5a1c8f3
Revises: c6f2a8d4e9b1
Create Date: 2026-12-07 10:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

import b24app.models_base

revision = 'd2b7e5a1c8f3'
down_revision = 'c6f2a8d4e9b1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'qa_notices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('portal_id', sa.Integer(), nullable=False),
        sa.Column('score_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=255), nullable=False),
        sa.Column('created_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['score_id'], ['qa_scores.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('score_id', 'kind', 'revision', 'user_id'),
    )
    with op.batch_alter_table('qa_notices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_notices_portal_id'), ['portal_id'], unique=False)


def downgrade():
    with op.batch_alter_table('qa_notices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_notices_portal_id'))
    op.drop_table('qa_notices')
