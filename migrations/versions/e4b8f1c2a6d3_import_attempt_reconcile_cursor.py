"""call_import_runs.attempt (a resumed import's owner) and call_settings.reconcile_from (reconcile's cursor)

Revision ID: e4b8f1c2a6d3
Revises: f2c9a7d4e1b6
Create Date: 2026-12-10 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b8f1c2a6d3'
down_revision = 'f2c9a7d4e1b6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('call_import_runs') as batch_op:
        batch_op.add_column(sa.Column('attempt', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('call_settings') as batch_op:
        batch_op.add_column(sa.Column('reconcile_from', sa.BigInteger(), nullable=True))


def downgrade():
    with op.batch_alter_table('call_settings') as batch_op:
        batch_op.drop_column('reconcile_from')
    with op.batch_alter_table('call_import_runs') as batch_op:
        batch_op.drop_column('attempt')
