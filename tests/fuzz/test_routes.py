"""Every route of the app, found in its url_map, takes hostile requests without a 5xx and refuses without writing.

Each route gets arbitrary form, JSON, raw and query shapes, Bitrix24's own shapes bent out of form
(placement POSTs, events), wrong methods, huge values, and no, forged, expired, tampered or another
portal's credentials. A 4xx must leave the database exactly as it was and say why in words; events
the app accepted must then process without an error of the app's own. New routes are covered by
being routes. `FUZZ_EXAMPLES` sets the examples per route (CI's default keeps the suite short).
"""

from __future__ import annotations

import json
import os
import re
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from b24app import create_app
from b24app.extensions import db
from b24app.inbox.models import FAILED, InboxEvent

from .shapes import (
    JSON_VALUES,
    METHODS,
    PAIRS,
    QUERY,
    VALUES,
    Hostile,
    event_pairs,
    json_object,
    placement_options,
)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
CYRILLIC = re.compile("[а-яА-ЯёЁ]")


def _routes() -> list[tuple[str, str, tuple[str, ...]]]:
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "JOBS_IMMEDIATE": True, "TESTING": True})
    return sorted((r.rule, r.endpoint, tuple(sorted(r.methods - {"HEAD", "OPTIONS"}))) for r in app.url_map.iter_rules())


ROUTES = _routes()


def _path(rule: str, draw, ids: list[int]) -> str:
    def fill(m: re.Match) -> str:
        conv = m.group(1) or "string"
        if conv == "int":
            return str(draw(st.sampled_from(ids) if ids and draw(st.booleans()) else st.integers(0, 10**30)))
        return quote(draw(st.one_of(st.sampled_from(["x", "a.css", "..", "%2e"]), st.text(min_size=1, max_size=60))),
                     safe="")
    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>", fill, rule)


def _credentials(draw, world) -> tuple[str, str | None]:
    kind = draw(st.sampled_from(["admin"] * 4 + ["manager"] * 2 + ["none", "other", "expired", "tampered", "garbage"]))
    token = {"none": None, "garbage": draw(st.text(max_size=50))}.get(kind, world.tokens.get(kind))
    return kind, token


def _placement_form(draw, world) -> tuple[list, list]:
    """The portal's POST into a page, with its fields kept, dropped, repeated, nested or of the wrong kind."""
    portal = world.portal
    auth = draw(st.sampled_from([world.auth_ids["admin"], world.auth_ids["manager"], "forged-auth-id", ""]))
    placement = draw(st.sampled_from(["CALL_CARD", "LEFT_MENU", "DEFAULT", "CRM_ANALYTICS_MENU",
                                      "CRM_DYNAMIC_1030_DETAIL_TAB", "crm_dynamic_x", "Я"]))
    form = [("AUTH_ID", auth), ("AUTH_EXPIRES", draw(st.sampled_from(["3600", "-1", "x", "9" * 30]))),
            ("REFRESH_ID", "r"), ("SERVER_ENDPOINT", portal.server_endpoint),
            ("member_id", draw(st.sampled_from([portal.member_id, portal.member_id, world.other.member_id, "nobody"]))),
            ("status", "L"), ("PLACEMENT", placement), ("PLACEMENT_OPTIONS", draw(placement_options())),
            ("APPLICATION_TOKEN", "")]
    query = [("DOMAIN", draw(st.sampled_from([portal.domain, portal.domain, world.other.domain, "evil.example",
                                               "a b", ""]))),
             ("PROTOCOL", draw(st.sampled_from(["0", "0", "1", "2", ""]))), ("LANG", draw(st.sampled_from(["ru", "en", "xx"]))),
             ("APP_SID", "s")]
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["drop", "repeat", "nest", "replace", "extra"]))
        target = draw(st.sampled_from(form)) if form else ("x", "")
        if op == "drop" and target in form:
            form.remove(target)
        elif op == "repeat":
            form.append(target)
        elif op == "nest":
            form.append((f"{target[0]}[x]", draw(VALUES)))
        elif op == "replace" and target in form:
            form[form.index(target)] = (target[0], draw(VALUES))
        else:
            form += draw(PAIRS)
    return query, form


@st.composite
def hostile(draw, rule: str, methods: tuple[str, ...], world) -> Hostile:
    method = draw(st.sampled_from(methods) if draw(st.integers(0, 4)) else st.sampled_from(METHODS))
    req = Hostile(method=method, path=_path(rule, draw, world.ids), query=draw(QUERY))
    kind, token = _credentials(draw, world)
    where = draw(st.sampled_from(["header", "form", "query"]))
    if token is not None and where == "header":
        # Headers travel as bytes without line breaks (the client refuses to send those).
        req.headers["X-Frame-Token"] = re.sub(r"[\x00-\x20\x7f]", "", token).encode().decode("latin-1") or "x"
    elif token is not None and where == "query":
        req.query.append(("ft", token))
    if draw(st.integers(0, 5)) == 0:
        req.headers["Origin"] = draw(st.sampled_from(["https://evil.example", world.url, "null"]))
    if draw(st.booleans()):
        req.headers["Accept"] = "application/json"
    body = draw(st.sampled_from(["form", "form", "json", "raw", "none", "placement", "placement", "event", "event"]))
    if body == "form":
        req.form = draw(PAIRS)
    elif body == "json":
        req.json_body = draw(st.one_of(json_object(), JSON_VALUES))
    elif body == "raw":
        req.raw = draw(st.binary(max_size=400))
        req.content_type = draw(st.sampled_from(["application/x-www-form-urlencoded", "application/json",
                                                 "multipart/form-data; boundary=x", "text/plain", "multipart/form-data"]))
    elif body == "placement":
        query, req.form = _placement_form(draw, world)
        req.query = query + req.query
    elif body == "event":
        req.form = draw(event_pairs(world.portal.member_id, world.app_token))
    if token is not None and where == "form":
        if req.form is not None:
            req.form.append(("frame_token", token))
        elif isinstance(req.json_body, dict):
            req.json_body["frame_token"] = token
        else:
            req.query.append(("ft", token))
    return req


def send(world, req: Hostile) -> requests.Response:
    headers = dict(req.headers)
    kwargs: dict = {"params": req.query, "headers": headers, "timeout": 60, "allow_redirects": False}
    if req.form is not None:
        kwargs["data"] = req.form
    elif req.raw is not None:
        kwargs["data"] = req.raw
        headers["Content-Type"] = req.content_type
    elif req.json_body is not None:
        kwargs["data"] = json.dumps(req.json_body)
        headers["Content-Type"] = "application/json"
    return requests.request(req.method, world.url + req.path, **kwargs)


def _explains(resp: requests.Response) -> bool:
    """A refusal says why: a JSON error, or a page with words (Russian unless the portal is English)."""
    if resp.request.method == "HEAD" or resp.status_code in (304,):
        return True
    ctype = resp.headers.get("Content-Type", "")
    if ctype.startswith("application/json"):
        try:
            return bool(resp.json().get("error"))
        except (ValueError, AttributeError):
            return False
    return bool(CYRILLIC.search(resp.text)) or "English" in resp.text or bool(re.search(r"[A-Za-z]{4,}", resp.text))


def _portal_errors() -> set[str]:
    from b24app.bitrix import errors as E

    out, todo = set(), [E.BitrixError]
    while todo:
        cls = todo.pop()
        out.add(cls.__name__)
        todo += cls.__subclasses__()
    return out | {"LookupError"}  # enrichment waits for the portal's statistics row


def _failed_events(world) -> list[str]:
    """Accepted events whose processing failed for a reason of the app's own (not the portal's)."""
    allowed = _portal_errors()
    with world.app.ctx():
        rows = db.session.scalars(select(InboxEvent).where(InboxEvent.status == FAILED)).all()
        return [f"{r.event}: {r.last_error}" for r in rows if r.last_error.split(":", 1)[0] not in allowed]


def test_every_route_is_fuzzed(world):
    """The parametrised list is the served app's url_map: nothing registered later escapes the fuzz."""
    served = sorted((r.rule, r.endpoint, tuple(sorted(r.methods - {"HEAD", "OPTIONS"})))
                    for r in world.app.app.url_map.iter_rules())
    assert served == ROUTES and len(ROUTES) >= 20


@pytest.mark.parametrize("rule, endpoint, methods", ROUTES, ids=[f"{r[1]}" for r in ROUTES])
def test_route_survives_hostile_requests(world, rule, endpoint, methods):
    seen: dict[int, int] = {}
    state = {"digest": world.digest()}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=os.environ.get("CI_FUZZ_RANDOM") != "1",
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def attack(data):
        req = data.draw(hostile(rule, methods, world))
        resp = send(world, req)
        seen[resp.status_code] = seen.get(resp.status_code, 0) + 1
        assert resp.status_code < 500, f"{resp.status_code} for {req.describe()}\n{resp.text[:800]}"
        after = world.digest()
        if 400 <= resp.status_code < 500:
            assert after == state["digest"], f"refused with {resp.status_code} but the database changed: {req.describe()}"
            assert _explains(resp), f"{resp.status_code} without a reason: {req.describe()}\n{resp.text[:300]}"
        state["digest"] = after

    attack()
    assert not _failed_events(world), _failed_events(world)
    # The fuzz reached the route's code, not only its doors.
    assert seen, "no request sent"
