"""calls: no foreign key to portals and no single-column portal index (the import's write cost)

Revision ID: c5e1d2a9b7f0
Revises: b0a418dd4bdd
Create Date: 2026-12-03 09:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c5e1d2a9b7f0'
down_revision = 'b0a418dd4bdd'
branch_labels = None
depends_on = None

# SQLite keeps the foreign key unnamed: batch mode needs a name to find it by.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('calls_portal_id_fkey', 'calls', type_='foreignkey')
        op.drop_index('ix_calls_portal_id', table_name='calls')
        return
    with op.batch_alter_table('calls', naming_convention=NAMING) as batch_op:
        batch_op.drop_index('ix_calls_portal_id')
        batch_op.drop_constraint('fk_calls_portal_id_portals', type_='foreignkey')


def downgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_portal_id', ['portal_id'], unique=False)
        batch_op.create_foreign_key('calls_portal_id_fkey', 'portals', ['portal_id'], ['id'], ondelete='CASCADE')
