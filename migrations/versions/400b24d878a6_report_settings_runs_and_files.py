"""report settings, runs (scheduled slots unique per portal) and the workbook files

Revision ID: 400b24d878a6
Revises: d35b2591f732
Create Date: 2026-12-07 17:23:57.523061

"""
import sqlalchemy as sa
from alembic import op

import b24app.models_base


revision = '400b24d878a6'
down_revision = 'd35b2591f732'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('report_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('slot', sa.String(length=32), nullable=True),
    sa.Column('first', sa.Date(), nullable=False),
    sa.Column('last', sa.Date(), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('users', sa.JSON(), nullable=True),
    sa.Column('to_disk', sa.Boolean(), nullable=False),
    sa.Column('to_chat', sa.Boolean(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.Column('started_at', b24app.models_base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('finished_at', b24app.models_base.UtcDateTime(timezone=True), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=True),
    sa.Column('calls', sa.Integer(), nullable=True),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('disk_file_id', sa.String(length=32), nullable=False),
    sa.Column('file_url', sa.String(length=1024), nullable=False),
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'slot', name='uq_report_runs_slot')
    )
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_runs_portal_id'), ['portal_id'], unique=False)

    op.create_table('report_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('weekly', sa.Boolean(), nullable=False),
    sa.Column('monthly', sa.Boolean(), nullable=False),
    sa.Column('hour', sa.Integer(), nullable=False),
    sa.Column('storage_id', sa.String(length=32), nullable=False),
    sa.Column('storage_name', sa.String(length=255), nullable=False),
    sa.Column('folder_name', sa.String(length=255), nullable=False),
    sa.Column('dialog_id', sa.String(length=64), nullable=False),
    sa.Column('chat_title', sa.String(length=255), nullable=False),
    sa.Column('departments', sa.JSON(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=False),
    sa.Column('updated_at', b24app.models_base.UtcDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id')
    )
    op.create_table('report_files',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['report_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id')
    )
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_files_portal_id'), ['portal_id'], unique=False)



def downgrade():
    with op.batch_alter_table('report_files', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_files_portal_id'))

    op.drop_table('report_files')
    op.drop_table('report_settings')
    with op.batch_alter_table('report_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_runs_portal_id'))

    op.drop_table('report_runs')
