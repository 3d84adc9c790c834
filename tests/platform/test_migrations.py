"""The migrations make exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from b24app.extensions import db


def test_the_migrated_schema_is_the_models_schema(live_app):
    with live_app.ctx(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], "a model change without its migration (or the reverse): " + repr(diff)[:2000]


def test_calls_keep_their_unique_call_id_without_a_per_row_foreign_key(live_app):
    with live_app.ctx():
        insp = inspect(db.engine)
        assert insp.get_foreign_keys("calls") == []
        uniques = [u["column_names"] for u in insp.get_unique_constraints("calls")]
        assert ["portal_id", "call_id"] in uniques
        assert "ix_calls_portal_id" not in {i["name"] for i in insp.get_indexes("calls")}
