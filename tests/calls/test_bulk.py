"""Writing many calls at once (COPY on PostgreSQL, multi-row upserts on SQLite): one row per CALL_ID,
the last one wins, and an existing call keeps what the statistics do not own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from b24app.calls import store
from b24app.calls.bulk import CallWriter
from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals.models import Portal

MSK = timezone(timedelta(hours=3))


def _portal(live_app) -> int:
    with live_app.ctx():
        p = Portal(member_id="bulk-test", domain="bulk.example", protocol=1, client_endpoint="", server_endpoint="",
                   access_token="", refresh_token="", token_expires_at=0, application_token="t", status="active")
        db.session.add(p)
        db.session.commit()
        return p.id


def _row(call_id: str, stat_id: int, duration: int, start: datetime | None = None) -> tuple:
    values = {"call_id": call_id, "stat_id": stat_id, "call_type": 1, "phone_number": "+79001234567",
              "portal_number": "reg1", "portal_user_id": 3, "call_start_date": start or datetime(2026, 11, 20, 10, tzinfo=MSK),
              "duration": duration, "failed_code": "200", "failed_reason": "", "vote": None, "cost": None,
              "record_file_id": None, "crm_entity_type": "", "crm_entity_id": None, "crm_activity_id": None,
              "rest_app_id": "", "ended": True, "enriched": True, "conversation": duration, "selection": "review"}
    return tuple(values[c] for c in store.IMPORT_COLUMNS)


def _write(live_app, pid: int, *batches: list[tuple]) -> None:
    with live_app.ctx():
        conn = db.session.connection()
        w = CallWriter(conn.dialect.name, pid, store.IMPORT_COLUMNS, update=store.STAT_UPDATE, source="import")
        for rows in batches:
            w.add(conn, rows)
        w.flush(conn)
        db.session.commit()


def _calls(live_app, pid: int) -> dict[str, Call]:
    with live_app.ctx():
        rows = db.session.query(Call).filter_by(portal_id=pid).all()
        for r in rows:
            db.session.expunge(r)
        return {r.call_id: r for r in rows}


def test_one_row_per_call_id_and_the_last_one_wins(live_app):
    pid = _portal(live_app)
    _write(live_app, pid, [_row("a", 1, 40), _row("b", 2, 50), _row("a", 3, 60)], [_row("b", 4, 70)])
    got = _calls(live_app, pid)
    assert sorted(got) == ["a", "b"]
    assert (got["a"].stat_id, got["a"].duration) == (3, 60) and (got["b"].stat_id, got["b"].duration) == (4, 70)
    assert got["a"].call_start_date == datetime(2026, 11, 20, 7, tzinfo=UTC) and got["a"].source == "import"


def test_an_existing_call_keeps_its_event_times_and_card(live_app):
    pid = _portal(live_app)
    rang = datetime(2026, 11, 20, 6, 59, 50, tzinfo=UTC)
    with live_app.ctx():
        store.upsert(pid, [{"call_id": "c", "ring_at": rang}], update=("ring_at",), source="event")
        db.session.query(Call).filter_by(portal_id=pid, call_id="c").update({"qa_item_id": 77})
        db.session.commit()
    _write(live_app, pid, [_row("c", 9, 45)])
    got = _calls(live_app, pid)["c"]
    assert (got.duration, got.stat_id, got.enriched, got.source) == (45, 9, True, "event")
    assert got.ring_at == rang and got.qa_item_id == 77


def test_thousands_of_rows_land_once_each_with_their_times(live_app):
    pid = _portal(live_app)
    base = datetime(2026, 9, 1, tzinfo=MSK)
    rows = [_row(f"call-{i}", i, i % 300, base + timedelta(seconds=37 * i)) for i in range(3_777)]
    _write(live_app, pid, rows[:2_000], rows[2_000:])
    _write(live_app, pid, rows[:100])  # again: nothing doubles
    got = _calls(live_app, pid)
    assert len(got) == 3_777
    assert got["call-3776"].call_start_date == (base + timedelta(seconds=37 * 3776)).astimezone(UTC)
    assert got["call-1234"].duration == 1234 % 300
