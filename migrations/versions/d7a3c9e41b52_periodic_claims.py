"""periodic_claims: one row per (periodic task, due minute), claimed by one worker process

Revision ID: d7a3c9e41b52
Revises: c5e1d2a9b7f0
Create Date: 2026-12-04 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7a3c9e41b52'
down_revision = 'c5e1d2a9b7f0'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('periodic_claims',
    sa.Column('task', sa.String(length=200), nullable=False),
    sa.Column('slot', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=120), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('task', 'slot')
    )


def downgrade():
    op.drop_table('periodic_claims')
