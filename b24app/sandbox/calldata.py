"""Call statistics rows (voximplant.statistic.get): their fields, a seeded generator of realistic
history, and the stored row form (indexed columns + JSON written once, so pages are string joins)."""

from __future__ import annotations

import bisect
import gc
import math
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from json.encoder import encode_basestring_ascii
from typing import Any

from .envelope import Raw, dumps

# Fixture `voximplant.statistic.get.response` key order.
FIELDS = (
    "ID", "PORTAL_USER_ID", "PORTAL_NUMBER", "PHONE_NUMBER", "CALL_ID", "EXTERNAL_CALL_ID", "CALL_CATEGORY",
    "CALL_LOG", "CALL_DURATION", "CALL_START_DATE", "CALL_RECORD_URL", "CALL_VOTE", "COST", "COST_CURRENCY",
    "CALL_FAILED_CODE", "CALL_FAILED_REASON", "CRM_ENTITY_TYPE", "CRM_ENTITY_ID", "CRM_ACTIVITY_ID",
    "REST_APP_ID", "REST_APP_NAME", "TRANSCRIPT_ID", "TRANSCRIPT_PENDING", "SESSION_ID", "REDIAL_ATTEMPT",
    "COMMENT", "RECORD_DURATION", "RECORD_FILE_ID", "CALL_TYPE",
)

# Row tuple layout: the columns filters and orders touch most, then the hash key and the JSON.
ID, START, TYPE, USER, CODE, DURATION, PHONE, CALL_ID, HKEY, JSON = range(10)
COLUMNS = {"ID": ID, "CALL_START_DATE": START, "CALL_TYPE": TYPE, "PORTAL_USER_ID": USER,
           "CALL_FAILED_CODE": CODE, "CALL_DURATION": DURATION, "PHONE_NUMBER": PHONE, "CALL_ID": CALL_ID}

# Russian-portal texts for CALL_FAILED_CODE (core vi_history.php getStatusText, ru).
FAILED_REASONS = {
    "200": "Успешный звонок", "304": "Пропущенный звонок", "603": "Отклонено", "603-S": "Вызов отменен",
    "403": "Запрещено", "404": "Неверный номер", "486": "Занято", "484": "Направление недоступно",
    "503": "Направление недоступно", "480": "Временно недоступен", "402": "Недостаточно средств на счету",
    "423": "Заблокировано", "OTHER": "Не определено",
}
_OUT_FAILS = ("486", "486", "486", "480", "480", "603", "603-S", "404", "484", "402")
_LINES = ("reg133788", "+74952123456")
_REST_LINE = "+74957654321"
_REST_APP = ("3", "Интеграция с АТС")
# Share of calls per local hour 0..23 (a working day peaking late morning and mid-afternoon).
_HOUR_WEIGHTS = (0, 0, 0, 0, 0, 0, 0, 1, 3, 8, 12, 13, 11, 9, 11, 12, 11, 9, 6, 3, 2, 1, 0, 0)
_HASH_MULT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
PAGE = 50


def hkey(row_id: int, seed: int) -> int:
    """A stable pseudo-random order key: the default order clients must not mistake for ID order."""
    x = (row_id * _HASH_MULT + seed) & _MASK
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    return x ^ (x >> 29)


@dataclass(frozen=True)
class Operator:
    user_id: int
    tz_minutes: int
    weight: float
    active_until: float | None = None  # a dismissed employee only has early calls


def complete_row(row_id: int, fields: dict[str, Any], tz: timezone) -> dict[str, Any]:
    """A runtime row (a call just written) in fixture order; missing fields get defaults."""
    start = fields.get("CALL_START_DATE") or datetime.now(tz).isoformat(timespec="seconds")
    if isinstance(start, (int, float)):
        start = datetime.fromtimestamp(start, tz).isoformat(timespec="seconds")
    code = str(fields.get("CALL_FAILED_CODE") or "200")
    duration = int(fields.get("CALL_DURATION") or 0)
    defaults: dict[str, Any] = {
        "ID": str(row_id), "PORTAL_USER_ID": "1", "PORTAL_NUMBER": _LINES[0], "PHONE_NUMBER": "",
        "CALL_ID": f"externalCall.{row_id:032x}.{int(time.time())}", "EXTERNAL_CALL_ID": None,
        "CALL_CATEGORY": "external", "CALL_LOG": None, "CALL_DURATION": str(duration),
        "CALL_START_DATE": start, "CALL_RECORD_URL": None, "CALL_VOTE": None, "COST": "0.0000",
        "COST_CURRENCY": "", "CALL_FAILED_CODE": code, "CALL_FAILED_REASON": FAILED_REASONS.get(code, ""),
        "CRM_ENTITY_TYPE": None, "CRM_ENTITY_ID": None, "CRM_ACTIVITY_ID": None, "REST_APP_ID": None,
        "REST_APP_NAME": None, "TRANSCRIPT_ID": None, "TRANSCRIPT_PENDING": "N", "SESSION_ID": None,
        "REDIAL_ATTEMPT": None, "COMMENT": None, "RECORD_DURATION": None, "RECORD_FILE_ID": None,
        "CALL_TYPE": "1",
    }
    data = {}
    for name in FIELDS:
        value = fields.get(name, defaults[name])
        if name == "RECORD_FILE_ID":
            data[name] = None if value in (None, "", 0, "0") else int(value)
        else:
            data[name] = None if value is None else str(value)
    data["ID"] = str(row_id)
    data["CALL_START_DATE"] = start
    return data


def row_tuple(data: dict[str, Any], tz: timezone, seed: int) -> tuple:
    """The stored form of a row: indexed columns, hash key, JSON written once."""
    start = parse_datetime(data["CALL_START_DATE"], tz)
    row_id = int(data["ID"])
    return (row_id, start if start is not None else 0.0, _int(data["CALL_TYPE"]), _int(data["PORTAL_USER_ID"]),
            data["CALL_FAILED_CODE"] or "", _int(data["CALL_DURATION"]), data["PHONE_NUMBER"] or "",
            data["CALL_ID"] or "", hkey(row_id, seed), Raw(dumps(data)))


def generate_rows(n: int, operators: list[Operator], until: float, days: int, seed: int,
                  tz: timezone) -> list[tuple]:
    # Hundreds of thousands of new tuples would set off the cyclic GC again and again; none of
    # them can form a cycle, so it is paused for the run (3x faster).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate_rows(n, operators, until, days, seed, tz)
    finally:
        if was_enabled:
            gc.enable()


def _generate_rows(n: int, operators: list[Operator], until: float, days: int, seed: int,
                   tz: timezone) -> list[tuple]:
    rng = random.Random(seed)
    rand, lognorm = rng.random, rng.lognormvariate

    def randrange(a: int, b: int | None = None) -> int:
        # int(random() * k) is uniform enough here and 5x cheaper than Random.randrange
        return int(rand() * a) if b is None else a + int(rand() * (b - a))
    if not operators or n <= 0:
        return []
    cum_w, acc = [], 0.0
    for op in operators:
        acc += op.weight
        cum_w.append(acc)
    hours_cum, acc_h = [], 0
    for w in _HOUR_WEIGHTS:
        acc_h += w
        hours_cum.append(acc_h)
    tz_minutes = int(tz.utcoffset(None).total_seconds() // 60)
    # Midnight (portal time) of the first day of the history.
    first_day = datetime.fromtimestamp(until - days * 86400, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    day0 = first_day.timestamp()

    weekend = [(first_day + timedelta(days=d)).weekday() >= 5 for d in range(days + 1)]
    calls = []  # (end_ts, start_ts, operator, call_type, code, duration)
    while len(calls) < n:
        op = operators[bisect.bisect_left(cum_w, rand() * acc)]
        day = randrange(days + 1)
        if weekend[day] and rand() > 0.12:
            continue  # weekends are quiet
        hour = bisect.bisect_right(hours_cum, rand() * acc_h)
        local = day0 + day * 86400 + hour * 3600 + randrange(3600)
        start = local - (op.tz_minutes - tz_minutes) * 60  # the operator's working hours, in UTC terms
        if start > until - 60 or (op.active_until is not None and start > op.active_until):
            continue
        u = rand()
        call_type = 1 if u < 0.45 else 2 if u < 0.90 else 3 if u < 0.95 else 4 if u < 0.99 else 5
        if call_type in (2, 3):
            code = "304" if rand() < 0.16 else "200"
            wait = 3 + randrange(40)
        else:
            code = _OUT_FAILS[randrange(len(_OUT_FAILS))] if rand() < 0.12 else "200"
            wait = 2 + randrange(25)
        duration = min(3600, max(5, int(lognorm(4.2, 0.9)))) if code == "200" else 0
        calls.append((start + wait + duration, start, op, call_type, code, duration))

    calls.sort(key=lambda c: c[0])  # rows are written when calls end: IDs follow end time, not start
    rows = []
    row_id = 0
    activity, record_file, transcript = 5000, 9000, 100
    days_text: dict[tuple[int, int], tuple[str, str]] = {}  # (local day number, offset) → date texts
    quoted_lines = [encode_basestring_ascii(line) for line in _LINES]
    rest_line, rest_app_id, rest_app_name = (encode_basestring_ascii(v) for v in (_REST_LINE, *_REST_APP))
    for _end, start, op, call_type, code, duration in calls:
        row_id += 1 + (randrange(1, 3) if rand() < 0.014 else 0)  # ~2 % of IDs missing: deleted rows
        ts = int(start)
        offset = op.tz_minutes
        day_number, second = divmod(ts + offset * 60, 86400)
        texts = days_text.get((day_number, offset))
        if texts is None:
            ymd = time.strftime("%Y-%m-%d", time.gmtime(day_number * 86400))
            zone = f"{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
            texts = days_text[(day_number, offset)] = (ymd, zone)
        date = f"{texts[0]}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}{texts[1]}"
        answered = code == "200"
        r = rand()
        if r < 0.7:
            phone = f"+79{randrange(10 ** 9):09d}"
        elif r < 0.9:
            phone = f"+7495{randrange(10 ** 7):07d}"
        else:
            phone = f"79{randrange(10 ** 9):09d}"  # some numbers arrive without the plus
        if rand() < 0.3:  # a call registered by the PBX integration app (telephony.externalCall.*)
            call_id = f"externalCall.{rng.getrandbits(128):032x}.{ts}"
            line, session, log, record_url, cost, currency = rest_line, "null", "null", "null", "0.0000", ""
            app_id, app_name = rest_app_id, rest_app_name
        else:
            session_id = 3800000000 + randrange(100000000)
            session = f'"{session_id}"'
            call_id = f"{rng.getrandbits(64):016X}.{ts}.{randrange(10 ** 8)}"
            line = quoted_lines[randrange(2)]
            log = (f'"https://storage-gw-ru-01.voximplant.com/voximplant-logs/{texts[0].replace("-", "/")}/'
                   f'{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}_185.164.148.132.log'
                   f'?sessionid={session_id}"')
            record_url = '""'
            cost = f"{duration / 60 * 1.45:.4f}" if call_type in (1, 4, 5) and answered else "0.0000"
            currency, app_id, app_name = "RUR", "null", "null"
        vote = f'"{1 + randrange(5)}"' if answered and call_type in (2, 3) and rand() < 0.25 else "null"
        bound = rand()
        if bound < 0.88:
            entity = '"CONTACT"' if bound < 0.6 else '"COMPANY"' if bound < 0.72 else '"LEAD"'
            entity_id = f'"{1 + randrange(4000)}"'
        else:
            entity = entity_id = "null"
        activity += 1 + randrange(3)
        file_id = "null"
        transcript_id = "null"
        if answered and rand() < 0.9:
            record_file += 1 + randrange(2)
            file_id = str(record_file)
            if duration > 30 and rand() < 0.12:
                transcript += 1
                transcript_id = f'"{transcript}"'
        redial = '"1"' if call_type == 4 else "null"
        text = (
            f'{{"ID":"{row_id}","PORTAL_USER_ID":"{op.user_id}","PORTAL_NUMBER":{line},"PHONE_NUMBER":"{phone}",'
            f'"CALL_ID":"{call_id}","EXTERNAL_CALL_ID":null,"CALL_CATEGORY":"external","CALL_LOG":{log},'
            f'"CALL_DURATION":"{duration}","CALL_START_DATE":"{date}","CALL_RECORD_URL":{record_url},'
            f'"CALL_VOTE":{vote},"COST":"{cost}","COST_CURRENCY":"{currency}","CALL_FAILED_CODE":"{code}",'
            f'"CALL_FAILED_REASON":{_REASONS_JSON[code]},"CRM_ENTITY_TYPE":{entity},"CRM_ENTITY_ID":{entity_id},'
            f'"CRM_ACTIVITY_ID":"{activity}","REST_APP_ID":{app_id},"REST_APP_NAME":{app_name},'
            f'"TRANSCRIPT_ID":{transcript_id},"TRANSCRIPT_PENDING":"N","SESSION_ID":{session},'
            f'"REDIAL_ATTEMPT":{redial},"COMMENT":null,"RECORD_DURATION":null,"RECORD_FILE_ID":{file_id},'
            f'"CALL_TYPE":"{call_type}"}}'
        )
        rows.append((row_id, float(ts), call_type, op.user_id, code, duration, phone, call_id,
                     hkey(row_id, seed), Raw(text)))
    return rows


_REASONS_JSON = {code: encode_basestring_ascii(text) for code, text in FAILED_REASONS.items()}


def parse_datetime(value: Any, tz: timezone) -> float | None:
    """ISO-8601 (offset optional: portal time) → unix seconds; None when it is not a date."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "T", 1) if "T" not in value else value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.strptime(value.strip(), "%d.%m.%Y %H:%M:%S")
        except ValueError:
            try:
                moment = datetime.strptime(value.strip(), "%d.%m.%Y")
            except ValueError:
                return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def until_timestamp(calls_until: str | None, tz: timezone) -> float:
    """The end of the generated history: the given moment, or the current hour (stable within an hour)."""
    if calls_until:
        ts = parse_datetime(calls_until, tz)
        if ts is not None:
            return ts
    now = time.time()
    return math.floor(now / 3600) * 3600
