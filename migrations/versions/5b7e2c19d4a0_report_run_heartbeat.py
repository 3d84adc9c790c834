"""report runs: the attempt's last sign of life (beat_at), so a long build is not taken from a live worker

Revision ID: 5b7e2c19d4a0
Revises: 400b24d878a6
Create Date: 2026-12-07 23:30:00

"""
import sqlalchemy as sa
from alembic import op

import b24app.models_base


revision = '5b7e2c19d4a0'
down_revision = '400b24d878a6'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('report_runs') as batch_op:
        batch_op.add_column(sa.Column('beat_at', b24app.models_base.UtcDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('report_runs') as batch_op:
        batch_op.drop_column('beat_at')
