"""Statistics rows into call columns: the import's fast path reads every row as the careful one does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from b24app.calls import facts
from b24app.calls.bulk import _statement_spans, sqlite_datetime

KEYS = ("ID", "CALL_ID", "CALL_TYPE", "PHONE_NUMBER", "PORTAL_NUMBER", "PORTAL_USER_ID", "CALL_START_DATE",
        "CALL_DURATION", "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CALL_VOTE", "COST", "RECORD_FILE_ID",
        "CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "CRM_ACTIVITY_ID", "REST_APP_ID")
# What a portal (or a PBX writing through REST) may put in a field: digits, junk, numbers, nulls, nesting.
VALUES = st.one_of(
    st.none(), st.just(""), st.just("undefined"), st.just("0"), st.just(" 42 "), st.just("12.5"),
    st.from_regex(r"\A[0-9]{1,9}\Z"), st.text(max_size=300), st.integers(-10, 10**12), st.floats(allow_nan=False,
                                                                                                 allow_infinity=False),
    st.booleans(), st.just(0), st.just(0.0), st.lists(st.integers(), max_size=2),
    st.just("2026-11-20T10:00:00+03:00"), st.just("2026-11-20T10:00:00Z"), st.just("2026-11-20 10:00:00"),
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES))
def test_the_fast_path_equals_the_field_by_field_reading(row):
    careful = facts._statistic_row(row)
    assert facts.statistic_row(row) == careful
    try:
        fast = facts._statistic_row_fast(row)
    except (TypeError, ValueError):
        return  # the fast path declined: statistic_row used the careful one (checked above)
    assert fast == careful


def test_a_real_row_reads_as_expected():
    row = {"ID": "7", "CALL_ID": "externalCall.ab.1", "CALL_TYPE": "2", "PHONE_NUMBER": "+79001234567",
           "PORTAL_NUMBER": "reg1", "PORTAL_USER_ID": "3", "CALL_START_DATE": "2026-11-20T10:00:00+03:00",
           "CALL_DURATION": "95", "CALL_FAILED_CODE": "200", "CALL_FAILED_REASON": "Успешный звонок",
           "CALL_VOTE": "9", "COST": "1.2000", "RECORD_FILE_ID": None, "CRM_ENTITY_TYPE": "CONTACT",
           "CRM_ENTITY_ID": "278", "CRM_ACTIVITY_ID": "undefined", "REST_APP_ID": None}
    v = facts.from_statistic(row)
    assert v["stat_id"] == 7 and v["call_type"] == 2 and v["portal_user_id"] == 3 and v["duration"] == 95
    assert v["call_start_date"] == datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert v["vote"] is None and v["cost"] == 1.2 and v["crm_activity_id"] is None and v["rest_app_id"] == ""


def _reference_sqlite_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


@settings(max_examples=2000, deadline=None)
@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),
       st.sampled_from([None, 0, 180, -300, 330, 345, 600, -720, 840]), st.booleans())
def test_sqlite_text_is_what_sqlalchemy_stores(moment, offset_minutes, whole_seconds):
    if whole_seconds:
        moment = moment.replace(microsecond=0)
    if offset_minutes is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert sqlite_datetime(moment) == _reference_sqlite_text(moment)


def test_statements_come_in_a_dozen_shapes_and_cover_every_row():
    shapes = set()
    for n in range(0, 3001):
        spans = _statement_spans(n)
        assert [i for a, b in spans for i in range(a, b)] == list(range(n))
        shapes |= {b - a for a, b in spans}
    assert len(shapes) <= 10
