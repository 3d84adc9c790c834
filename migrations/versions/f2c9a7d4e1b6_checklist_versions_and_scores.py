"""checklist versions (a score keeps the version it was made with) and the reviewers' scores

Revision ID: f2c9a7d4e1b6
Revises: d7a3c9e41b52
Create Date: 2026-12-07 04:00:00

"""
import json

import sqlalchemy as sa
from alembic import op

revision = 'f2c9a7d4e1b6'
down_revision = 'd7a3c9e41b52'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('qa_checklists') as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        batch_op.add_column(sa.Column('next_item', sa.Integer(), nullable=False, server_default='1'))
    op.create_table(
        'qa_checklist_versions',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('checklist_id', sa.Integer(), sa.ForeignKey('qa_checklists.id', ondelete='CASCADE'), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(120), nullable=False),
        sa.Column('sections', sa.JSON(), nullable=False),
        sa.Column('used', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('created_by', sa.Integer()),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('checklist_id', 'number'),
    )
    op.create_index('ix_qa_checklist_versions_portal_id', 'qa_checklist_versions', ['portal_id'])
    op.create_table(
        'qa_scores',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('portal_id', sa.Integer(), sa.ForeignKey('portals.id', ondelete='CASCADE'), nullable=False),
        sa.Column('qa_item_id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.String(64), nullable=False),
        sa.Column('manager_id', sa.Integer()),
        sa.Column('reviewer_id', sa.Integer(), nullable=False),
        sa.Column('calibration_id', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('checklist_id', sa.Integer(), sa.ForeignKey('qa_checklists.id'), nullable=False),
        sa.Column('version_id', sa.Integer(), sa.ForeignKey('qa_checklist_versions.id'), nullable=False),
        sa.Column('status', sa.String(16), nullable=False, server_default='draft'),
        sa.Column('answers', sa.JSON(), nullable=False),
        sa.Column('comments', sa.JSON(), nullable=False),
        sa.Column('comment', sa.String(4000), nullable=False, server_default=''),
        sa.Column('for_meeting', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('percent', sa.Float()),
        sa.Column('critical_failed', sa.JSON(), nullable=False),
        sa.Column('revision', sa.Integer(), nullable=False, server_default='1'),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True)),
        sa.UniqueConstraint('portal_id', 'qa_item_id', 'reviewer_id', 'calibration_id'),
    )
    op.create_index('ix_qa_scores_portal_id', 'qa_scores', ['portal_id'])
    # Every existing checklist becomes its version 1; item ids continue after the highest "i<n>".
    conn = op.get_bind()
    lists = sa.table('qa_checklists', sa.column('id'), sa.column('portal_id'), sa.column('name'),
                     sa.column('sections', sa.JSON()), sa.column('next_item'), sa.column('created_at'))
    versions = sa.table('qa_checklist_versions', sa.column('portal_id'), sa.column('checklist_id'),
                        sa.column('number'), sa.column('name'), sa.column('sections', sa.JSON()),
                        sa.column('used'), sa.column('created_at'))
    for row in conn.execute(sa.select(lists)).all():
        sections = row.sections if isinstance(row.sections, list) else json.loads(row.sections or "[]")
        top = 0
        for sec in sections:
            for it in sec.get("items") or []:
                ident = str(it.get("id") or "")
                if ident.startswith("i") and ident[1:].isdigit():
                    top = max(top, int(ident[1:]))
        conn.execute(sa.insert(versions).values(portal_id=row.portal_id, checklist_id=row.id, number=1,
                                                name=row.name, sections=sections, used=False,
                                                created_at=row.created_at))
        conn.execute(sa.update(lists).where(lists.c.id == row.id).values(next_item=top + 1))


def downgrade():
    op.drop_index('ix_qa_scores_portal_id', table_name='qa_scores')
    op.drop_table('qa_scores')
    op.drop_index('ix_qa_checklist_versions_portal_id', table_name='qa_checklist_versions')
    op.drop_table('qa_checklist_versions')
    with op.batch_alter_table('qa_checklists') as batch_op:
        batch_op.drop_column('next_item')
        batch_op.drop_column('version')
