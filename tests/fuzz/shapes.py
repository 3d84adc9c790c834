"""Hypothesis strategies for hostile requests: every route of the app, every shape a client could send.

Field names are harvested from the app's own templates and request readers, so a new form field is
fuzzed without anyone listing it; bracketed variants, repeats, lists, huge and odd values are mixed in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import strategies as st

from b24app.bitrix.events import DATA as EVENT_DATA

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD")
BITRIX_FIELDS = ("AUTH_ID", "AUTH_EXPIRES", "REFRESH_ID", "SERVER_ENDPOINT", "member_id", "status", "PLACEMENT",
                 "PLACEMENT_OPTIONS", "APPLICATION_TOKEN", "APPLICATION_SCOPE", "DOMAIN", "PROTOCOL", "LANG",
                 "APP_SID", "event", "ts", "event_handler_id", "frame_token", "ft")


def harvested_names() -> tuple[str, ...]:
    """Every field name a template posts or a view reads (the sandbox is not the app)."""
    names: set[str] = set()
    for path in (ROOT / "b24app" / "templates").rglob("*.html"):
        names.update(re.findall(r'name="([A-Za-z0-9_\-\[\]]+)"', path.read_text(encoding="utf-8")))
    for path in (ROOT / "b24app").rglob("*.py"):
        if "sandbox" in path.parts:
            continue
        names.update(re.findall(r'\b(?:form|args|values|data|opts|options)\.(?:get|getlist)\("([A-Za-z0-9_]+)"',
                                path.read_text(encoding="utf-8")))
    names.discard("viewport")
    return tuple(sorted(names | set(BITRIX_FIELDS)))


NAMES = harvested_names()

_ODD = st.sampled_from(["", " ", "0", "-1", "1", "2", "999999999999999999999", "1e309", "NaN", "null", "true",
                        "undefined", "[]", "{}", "'", "\"", "<script>alert(1)</script>", "../../etc/passwd",
                        "%00", "\x00", "\u202e", "Ёжик", "#2fc6f6", "incoming", "outgoing", "admin", "qa",
                        "director", "up", "down", "manual", "usage", "CALL_CARD", "LEFT_MENU", "DEFAULT",
                        "ONVOXIMPLANTCALLEND", "2026-12-01", "31.12.2026", "+79001234567"])
_HUGE = st.integers(min_value=1_000, max_value=300_000).map(lambda n: "Я" * n)
VALUES = st.one_of(_ODD, st.text(max_size=40), st.integers(-10, 10**6).map(str), _HUGE)


def bracketed(name: str) -> st.SearchStrategy[str]:
    """A name as a plain key, a PHP-style nested key, a list key, or broken brackets."""
    return st.one_of(
        st.just(name),
        st.just(name),
        st.builds(lambda k: f"{name}[{k}]", st.sampled_from(["x", "0", "", "member_id", "CALL_ID", "ID"])),
        st.just(f"{name}[x][y][z]"),
        st.just(f"{name}[]"),
        st.just(f"{name}["),
    )


KEYS = st.one_of(st.sampled_from(NAMES).flatmap(bracketed), st.text(min_size=1, max_size=12))
PAIRS = st.lists(st.tuples(KEYS, VALUES), max_size=12)
# Query strings get no huge values: past a few KB every server answers 414 before the app sees them.
QUERY = st.lists(st.tuples(KEYS, st.one_of(_ODD, st.text(max_size=40))), max_size=4)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20) | _ODD,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8),
                                                                 inner, max_size=5),
    max_leaves=20,
)


def json_object(keys=None) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.sampled_from(keys or NAMES) | st.text(max_size=10), JSON_VALUES, max_size=8)


# --- Bitrix24 shapes, filled with hostile values --------------------------------------------------------

def _shape_keys(shape) -> list[str]:
    return list(getattr(shape, "fields", {}) or {})


CALL_CARD_KEYS = ["CALL_ID", "PHONE_NUMBER", "LINE_NUMBER", "LINE_NAME", "CRM_ENTITY_TYPE", "CRM_ENTITY_ID",
                  "CRM_BINDINGS", "CRM_ACTIVITY_ID", "CALL_DIRECTION", "CALL_STATE", "CALL_LIST_MODE", "URI", "ID"]


def placement_options() -> st.SearchStrategy[str]:
    """PLACEMENT_OPTIONS as the portal would send it, as it never would, and not even JSON."""
    good = st.fixed_dictionaries({"CALL_ID": st.sampled_from(["externalCall.fz.1", "fz-2"]),
                                  "CALL_DIRECTION": st.sampled_from(["incoming", "outgoing"]),
                                  "ID": st.sampled_from(["1", "2", "99"])},
                                 optional={k: JSON_VALUES for k in CALL_CARD_KEYS
                                           if k not in ("CALL_ID", "CALL_DIRECTION", "ID")})
    return st.one_of(good.map(json.dumps), json_object(CALL_CARD_KEYS).map(json.dumps),
                     JSON_VALUES.map(json.dumps), st.text(max_size=30))


def event_pairs(member_id: str, app_token: str) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A portal event for a known event name: its declared fields, valid-looking or hostile, with auth."""
    def build(name, auth_mode, values, extra):
        pairs = [("event", name), ("ts", "1773239624")]
        if auth_mode == "real":
            pairs += [("auth[member_id]", member_id), ("auth[application_token]", app_token)]
        elif auth_mode == "forged":
            pairs += [("auth[member_id]", member_id), ("auth[application_token]", "forged")]
        elif auth_mode == "foreign":
            pairs += [("auth[member_id]", "someone-else"), ("auth[application_token]", app_token)]
        for key, value in values:
            pairs.append((key if key.startswith(("data", "auth")) else f"data[{key}]", value))
        return pairs + extra

    def for_event(name):
        keys = _shape_keys(EVENT_DATA[name]) or ["FIELDS"]
        nested = [f"FIELDS][{k}" for k in ("ID", "x")] if name.startswith("ONCRM") else []
        key = st.sampled_from(keys + nested).flatmap(bracketed)
        value = st.one_of(VALUES, st.sampled_from(["fz-call-1", "fz-call-2", "1", "2", "200", "304", "60"]))
        return st.builds(build, st.just(name), st.sampled_from(["real", "real", "real", "forged", "foreign", "none"]),
                         st.lists(st.tuples(key, value), max_size=14), PAIRS.map(lambda p: p[:3]))

    return st.sampled_from(sorted(EVENT_DATA) + ["ONUNKNOWN"]).flatmap(
        lambda n: for_event(n) if n in EVENT_DATA else st.builds(build, st.just(n), st.just("real"), PAIRS,
                                                                 st.just([])))


@dataclass
class Hostile:
    """One request to send."""

    method: str
    path: str
    query: list = field(default_factory=list)
    form: list | None = None
    json_body: object = None
    raw: bytes | None = None
    content_type: str | None = None
    headers: dict = field(default_factory=dict)

    def describe(self) -> str:
        body = self.form if self.form is not None else self.json_body if self.raw is None else self.raw[:80]
        return f"{self.method} {self.path} q={str(self.query)[:300]} body={str(body)[:600]} h={self.headers}"
