"""analytics aggregates (per day and per hour), days to recount, callbacks on calls, department heads,
analytics settings; every day that already has calls is marked to be counted

Revision ID: d35b2591f732
Revises: d2b7e5a1c8f3
Create Date: 2026-12-07 11:41:30.406193

"""
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

import b24app.models_base


revision = 'd35b2591f732'
down_revision = 'd2b7e5a1c8f3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('call_stats',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('grain', sa.SmallInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.String(length=128), nullable=False),
    sa.Column('direction', sa.SmallInteger(), nullable=False),
    sa.Column('scenario', sa.SmallInteger(), nullable=False),
    sa.Column('topic_id', sa.Integer(), nullable=False),
    sa.Column('missed_open', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('accepted', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outgoing', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('outgoing_connected', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('successful_incoming', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('successful_outgoing', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('talk_seconds', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rated', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('satisfied', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('vote_sum', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('rung', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('waited', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('wait_seconds', sa.Float(), nullable=False),
    sa.Column('within_sl', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('recovered', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('callback_seconds', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'grain', 'day', 'user_id', 'line', 'direction', 'scenario', 'topic_id',
                        name='uq_call_stats_cell')
    )
    op.create_table('call_stats_dirty',
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('marked_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('portal_id', 'day')
    )
    op.create_table('call_stats_version',
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('changed_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('portal_id')
    )
    op.create_table('call_stats_hourly',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('hour', sa.SmallInteger(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('direction', sa.SmallInteger(), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.Column('incoming', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('outgoing', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id', 'day', 'hour', 'user_id', 'direction', name='uq_call_stats_hour_cell')
    )
    op.create_table('analytics_settings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_id', sa.Integer(), nullable=False),
    sa.Column('success_seconds', sa.Integer(), nullable=False),
    sa.Column('callback_hours', sa.Integer(), nullable=False),
    sa.Column('service_level_seconds', sa.Integer(), nullable=False),
    sa.Column('schedule', sa.JSON(), nullable=False),
    sa.Column('russian_holidays', sa.Boolean(), nullable=False),
    sa.Column('holidays', sa.JSON(), nullable=False),
    sa.Column('workdays', sa.JSON(), nullable=False),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('missed_target', sa.Integer(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.Column('updated_at', b24app.models_base.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['portal_id'], ['portals.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('portal_id')
    )
    with op.batch_alter_table('analytics_settings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_settings_portal_id'), ['portal_id'], unique=False)

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('callback_at', b24app.models_base.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('callback_by', sa.Integer(), nullable=True))
        batch_op.create_index('ix_calls_portal_phone_start', ['portal_id', 'phone_number', 'call_start_date'], unique=False)

    with op.batch_alter_table('portal_departments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('head_user_id', sa.Integer(), nullable=True))
    _mark_existing_days()


def _mark_existing_days():
    """The recount works in portal-local days; a UTC date and its neighbours cover every offset."""
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT DISTINCT portal_id, date(call_start_date) FROM calls "
                                "WHERE call_start_date IS NOT NULL")).all()
    days = set()
    for portal_id, d in rows:
        d = d if isinstance(d, date) else date.fromisoformat(str(d)[:10])
        days |= {(portal_id, d + timedelta(days=k)) for k in (-1, 0, 1)}
    table = sa.table('call_stats_dirty', sa.column('portal_id'), sa.column('day'), sa.column('version'),
                     sa.column('marked_at', b24app.models_base.UtcDateTime()))
    now = b24app.models_base.utcnow()
    rows = [{"portal_id": p, "day": d, "version": 1, "marked_at": now} for p, d in sorted(days)]
    for i in range(0, len(rows), 1000):
        op.bulk_insert(table, rows[i:i + 1000])


def downgrade():
    with op.batch_alter_table('portal_departments', schema=None) as batch_op:
        batch_op.drop_column('head_user_id')

    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_portal_phone_start')
        batch_op.drop_column('callback_by')
        batch_op.drop_column('callback_at')

    with op.batch_alter_table('analytics_settings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_settings_portal_id'))

    op.drop_table('analytics_settings')
    op.drop_table('call_stats_hourly')
    op.drop_table('call_stats_version')
    op.drop_table('call_stats_dirty')
    op.drop_table('call_stats')
