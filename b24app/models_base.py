"""Column helpers shared by the feature models."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, ForeignKey, Integer, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """A moment in time, stored in UTC and read back aware on every database.

    SQLite keeps only the digits (no zone), so without this a value read back from SQLite is naive
    while the same value from PostgreSQL is aware, and every caller would have to guess which.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def portal_fk(*, constraint: bool = True) -> Mapped[int]:
    """Every tenant row names its portal; purge and scoping rely on this column.

    `constraint=False` is for the one table written by the million (calls): PostgreSQL checks a
    foreign key with a trigger per inserted row, a fifth of an import's database time, and its
    own unique key (portal_id, …) already leads with the column. Purge deletes by portal_id
    table by table, so nothing depends on the cascade.
    """
    if not constraint:
        return mapped_column(Integer, nullable=False)
    return mapped_column(Integer, ForeignKey("portals.id", ondelete="CASCADE"), index=True, nullable=False)


def created_at() -> Mapped[datetime]:
    return mapped_column(UtcDateTime(), default=utcnow, nullable=False)


def row_for_portal(model, portal_id: int, **defaults):
    """The one row of `model` a portal has (settings and the like), made on first use.

    Two processes may make it at once: the loser's insert hits the unique key and reads the winner's row.
    """
    row = db.session.scalar(select(model).where(model.portal_id == portal_id))
    if row is None:
        db.session.add(model(portal_id=portal_id, **defaults))
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
        row = db.session.scalar(select(model).where(model.portal_id == portal_id))
    return row


def store_if_unchanged(model, portal_id: int, opened: int, columns: dict) -> bool:
    """Write a portal's one settings row of `model` if it is still at version `opened` (0: never saved),
    bumping its version; False when another save came first. In the caller's transaction.

    The compare-and-set is one UPDATE … WHERE version = opened, so two admins saving at once cannot both
    win; the first save of a portal inserts (the unique portal_id refuses a second insert)."""
    exists = db.session.scalar(select(model.id).where(model.portal_id == portal_id))
    if exists is None:
        if opened != 0:
            return False
        db.session.add(model(portal_id=portal_id, version=1, **columns))
        db.session.flush()
        return True
    done = db.session.execute(update(model).where(model.portal_id == portal_id, model.version == opened)
                              .values(version=model.version + 1, **columns)
                              .execution_options(synchronize_session=False))
    return done.rowcount == 1
