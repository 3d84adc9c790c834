"""The demo portal: same seed → same data; weekends and the 4 November holiday are quiet; ~8 % of
incoming calls are missed; recordings are shared WAV files; activities for client calls; over HTTP."""

from __future__ import annotations

import collections
import json
from datetime import datetime

import requests

from b24app.sandbox import demodata
from b24app.sandbox.settings import SandboxSettings
from b24app.sandbox.state import PortalState

from .helpers import admin, hook

UNTIL = "2026-11-20T18:00:00+03:00"


def _state(seed: int, calls: int) -> PortalState:
    state = PortalState(SandboxSettings(demo=True, seed=seed, calls_until=UNTIL))
    demodata.generate(state, seed, calls)
    return state


def _rows(state) -> list[dict]:
    return [state.calls.get(i) for i in state.calls.ids()]


def test_same_seed_same_data_and_realistic_shape():
    a, b, c = _state(5, 12000), _state(5, 12000), _state(6, 12000)
    rows = _rows(a)
    assert rows == _rows(b) and rows != _rows(c)
    assert [u.as_rest() for u in a.directory.all_users()] == [u.as_rest() for u in b.directory.all_users()]
    assert len(rows) == 12000 and len(a.directory.all_users()) >= 24
    positions = [u.position for u in a.directory.all_users()]
    assert any("директор" in p for p in positions) and sum("контролю качества" in p for p in positions) == 2

    by_day = collections.Counter(r["CALL_START_DATE"][:10] for r in rows)
    weekdays = collections.defaultdict(list)
    for day, n in by_day.items():
        weekdays[datetime.fromisoformat(day).weekday()].append(n)
    weekday_avg = sum(sum(weekdays[d]) for d in range(5)) / sum(len(weekdays[d]) for d in range(5))
    assert max(weekdays[5] + weekdays[6]) < weekday_avg * 0.5
    assert by_day["2026-11-04"] < weekday_avg * 0.05  # Unity Day (a Wednesday in 2026)
    hours = collections.Counter(int(r["CALL_START_DATE"][11:13]) for r in rows)
    assert sum(hours[h] for h in range(9, 19)) > 0.9 * len(rows)

    incoming = [r for r in rows if r["CALL_TYPE"] in ("2", "3")]
    missed = [r for r in incoming if r["CALL_FAILED_CODE"] == "304"]
    assert 0.06 < len(missed) / len(incoming) < 0.10
    assert all(r["CALL_DURATION"] == "0" for r in missed)
    answered = sorted(int(r["CALL_DURATION"]) for r in rows if r["CALL_FAILED_CODE"] == "200")
    short = sum(10 <= d <= 60 for d in answered) / len(answered)
    assert short > 0.35 and answered[-1] > 600
    voted = [r for r in rows if r["CALL_VOTE"]]
    assert 0.05 < len(voted) / len(rows) < 0.3 and {r["CALL_VOTE"] for r in voted} <= set("12345")

    recorded = [r for r in rows if r["RECORD_FILE_ID"]]
    files = {r["RECORD_FILE_ID"] for r in recorded}
    assert len(recorded) > 0.5 * len(answered) and len(files) <= 30
    wav = a.disk.content(next(iter(files)))
    assert wav[:4] == b"RIFF" and 2000 < len(wav) < 20000
    first = rows[0]
    assert demodata.ring_wait(a, int(first["ID"])) >= 0 and "RING_WAIT" not in first
    with_client = [r for r in rows if r["CRM_ENTITY_ID"]]
    act = a.crm.activity(int(with_client[0]["CRM_ACTIVITY_ID"]))
    assert act["ORIGIN_ID"] == "VI_" + with_client[0]["CALL_ID"]
    assert act["OWNER_ID"] == with_client[0]["CRM_ENTITY_ID"]
    # a missed call is called back within hours by an outgoing call to the same number
    phones_out = collections.defaultdict(list)
    for r in rows:
        if r["CALL_TYPE"] == "1":
            phones_out[r["PHONE_NUMBER"]].append(datetime.fromisoformat(r["CALL_START_DATE"]).timestamp())
    called_back = sum(any(0 < t - datetime.fromisoformat(m["CALL_START_DATE"]).timestamp() < 5 * 3600
                          for t in phones_out[m["PHONE_NUMBER"]]) for m in missed)
    assert called_back > 0.3 * len(missed)
    kind, cid = a.crm.find_by_phone(with_client[0]["PHONE_NUMBER"])
    assert a.crm.client_name(kind, cid) and a.crm.responsible_of(kind, cid)
    assert len(a.lines.all()) >= 2 and len({line["number"] for line in a.lines.all()}) == len(a.lines.all())


def test_demo_server_and_regenerate_route(make_sandbox):
    sandbox = make_sandbox(demo=True, demo_calls=3000, calls_until=UNTIL)
    first = hook(sandbox, "voximplant.statistic.get", {"SORT": "ID", "ORDER": "ASC"}).json()
    assert first["total"] == 3000
    rec = next(r for r in first["result"] if r["RECORD_FILE_ID"])
    assert rec["CALL_RECORD_URL"].startswith(sandbox.url + "/_sandbox/disk/file/")
    assert requests.get(rec["CALL_RECORD_URL"], timeout=5).content[:4] == b"RIFF"
    got = hook(sandbox, "disk.file.get", {"id": rec["RECORD_FILE_ID"]}).json()["result"]
    assert got["DOWNLOAD_URL"] == rec["CALL_RECORD_URL"]
    contacts = hook(sandbox, "crm.contact.list", {"start": -1}).json()
    assert len(contacts["result"]) == 50 and contacts["total"] == 0
    deals = hook(sandbox, "crm.deal.list", {"filter": {"CATEGORY_ID": 1}}).json()
    assert deals["total"] > 0
    out = admin(sandbox, "demo", {"seed": 9, "calls": 1500})
    assert out["calls"] == 1500 and json.loads(json.dumps(out))["seed"] == 9
    assert hook(sandbox, "voximplant.statistic.get", {"start": 0}).json()["total"] == 1500


def test_cli_demo_options():
    from b24app.sandbox.__main__ import build_parser, settings_from

    s = settings_from(build_parser().parse_args(["serve", "--demo-calls", "2000"]))
    assert (s.demo, s.demo_calls) == (True, 2000)
    s = settings_from(build_parser().parse_args(["serve", "--demo"]))
    assert (s.demo, s.demo_calls, s.voximplant_user_confirm) == (True, 100_000, False)
