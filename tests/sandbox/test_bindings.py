"""placement.bind/unbind/get and event.bind/unbind/get, with core's checks and error codes."""

from __future__ import annotations

import pytest
import requests

from .helpers import call, error_of, tokens

APP = "http://127.0.0.1:9"  # handlers are only stored here, never called


@pytest.fixture
def token(sandbox) -> str:
    return tokens(sandbox)["access_token"]


def test_placement_bind_then_get_in_the_fixture_shape(sandbox, token):
    r = call(sandbox, "placement.bind", token, {"PLACEMENT": "left_menu", "HANDLER": f"{APP}/b24/app",
                                                "TITLE": "Контроль звонков"})
    assert r.status_code == 200 and r.json()["result"] is True
    call(sandbox, "placement.bind", token, {
        "PLACEMENT": "CRM_DYNAMIC_183_DETAIL_TAB", "HANDLER": f"{APP}/b24/tab",
        "LANG_ALL": {"ru": {"TITLE": "Оценка"}, "en": {"TITLE": "Score", "GROUP_NAME": "QA"}}})
    got = call(sandbox, "placement.get", token).json()["result"]
    assert got == [
        {"placement": "LEFT_MENU", "userId": 0, "handler": f"{APP}/b24/app", "options": [],
         "title": "Контроль звонков", "description": "",
         "langAll": {"ru": {"TITLE": "Контроль звонков", "DESCRIPTION": "", "GROUP_NAME": ""}}},
        {"placement": "CRM_DYNAMIC_183_DETAIL_TAB", "userId": 0, "handler": f"{APP}/b24/tab", "options": [],
         "title": "Оценка", "description": "",
         "langAll": {"ru": {"TITLE": "Оценка", "DESCRIPTION": "", "GROUP_NAME": ""},
                     "en": {"TITLE": "Score", "DESCRIPTION": "", "GROUP_NAME": "QA"}}},
    ]
    listed = requests.get(f"{sandbox.url}/_sandbox/bindings", timeout=10).json()["placements"]
    assert [(p["placement"], p["handler"]) for p in listed] == [("LEFT_MENU", f"{APP}/b24/app"),
                                                               ("CRM_DYNAMIC_183_DETAIL_TAB", f"{APP}/b24/tab")]


@pytest.mark.parametrize("params,status,code", [
    ({"PLACEMENT": "NO_SUCH_PLACE", "HANDLER": f"{APP}/x"}, 400, "ERROR_PLACEMENT_NOT_FOUND"),
    ({"PLACEMENT": "DEFAULT", "HANDLER": f"{APP}/x"}, 400, "ERROR_ARGUMENT"),
    ({"PLACEMENT": "CALL_CARD"}, 400, "ERROR_ARGUMENT"),
    ({"PLACEMENT": "CALL_CARD", "HANDLER": "http://localhost/x"}, 400, "ERROR_WRONG_HANDLER_URL"),
    ({"PLACEMENT": "CALL_CARD", "HANDLER": "ftp://127.0.0.1/x"}, 400, "ERROR_UNSUPPORTED_PROTOCOL"),
    ({"PLACEMENT": "CALL_CARD", "HANDLER": f"{APP}/x", "USER_ID": 3}, 400, "ERROR_PLACEMENT_USER_MODE"),
    ({"PLACEMENT": "PAGE_BACKGROUND_WORKER", "HANDLER": f"{APP}/x"}, 400, "EMPTY_ERROR_HANDLER_URL"),
])
def test_placement_bind_refusals(sandbox, token, params, status, code):
    assert error_of(call(sandbox, "placement.bind", token, params)) == (status, code)


def test_binding_the_same_handler_twice_is_core_s_error(sandbox, token):
    params = {"PLACEMENT": "CALL_CARD", "HANDLER": f"{APP}/card"}
    assert call(sandbox, "placement.bind", token, params).status_code == 200
    r = call(sandbox, "placement.bind", token, params)
    assert r.status_code == 400
    assert r.json() == {"error": "ERROR_CORE",
                        "error_description": "Unable to set placement handler: Handler already binded"}


def test_placement_scope_must_be_granted(make_sandbox):
    sandbox = make_sandbox(app_scope="crm,placement")
    token = tokens(sandbox)["access_token"]
    r = call(sandbox, "placement.bind", token, {"PLACEMENT": "CALL_CARD", "HANDLER": f"{APP}/card"})
    assert error_of(r) == (400, "ERROR_PLACEMENT_NOT_FOUND")


def test_background_worker_keeps_its_options_and_allows_one(sandbox, token):
    params = {"PLACEMENT": "PAGE_BACKGROUND_WORKER", "HANDLER": f"{APP}/bg",
              "OPTIONS": {"errorHandlerUrl": f"{APP}/bg-error", "junk": "x"}}
    assert call(sandbox, "placement.bind", token, params).status_code == 200
    assert call(sandbox, "placement.get", token).json()["result"][0]["options"] == {"errorHandlerUrl": f"{APP}/bg-error"}
    again = call(sandbox, "placement.bind", token, {**params, "HANDLER": f"{APP}/bg2"})
    assert error_of(again) == (400, "ERROR_PLACEMENT_MAX_COUNT")


def test_placement_unbind_by_handler_or_all(sandbox, token):
    for path in ("a", "b", "c"):
        call(sandbox, "placement.bind", token, {"PLACEMENT": "CRM_ANALYTICS_MENU", "HANDLER": f"{APP}/{path}"})
    one = call(sandbox, "placement.unbind", token, {"PLACEMENT": "CRM_ANALYTICS_MENU", "HANDLER": f"{APP}/a"})
    assert one.json()["result"] == {"count": 2}  # core counts each deleted handler twice
    rest = call(sandbox, "placement.unbind", token, {"PLACEMENT": "CRM_ANALYTICS_MENU"})
    assert rest.json()["result"] == {"count": 4}
    assert call(sandbox, "placement.get", token).json()["result"] == []
    none = call(sandbox, "placement.unbind", token, {"PLACEMENT": "CRM_ANALYTICS_MENU"})
    assert none.json()["result"] == {"count": 0}


def test_event_bind_get_unbind(sandbox, token):
    r = call(sandbox, "event.bind", token, {"event": "onVoximplantCallEnd", "handler": f"{APP}/b24/events"})
    assert r.json()["result"] is True
    call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD", "handler": f"{APP}/b24/events", "auth_type": 5})
    call(sandbox, "event.bind", token, {"event": "ONCRMDEALUPDATE", "event_type": "offline"})
    assert call(sandbox, "event.get", token).json()["result"] == [
        {"event": "ONVOXIMPLANTCALLEND", "handler": f"{APP}/b24/events", "auth_type": "0", "offline": 0},
        {"event": "ONCRMDEALADD", "handler": f"{APP}/b24/events", "auth_type": "5", "offline": 0},
        {"event": "ONCRMDEALUPDATE", "connector_id": "", "offline": 1},
    ]
    gone = call(sandbox, "event.unbind", token, {"event": "ONVOXIMPLANTCALLEND", "handler": f"{APP}/b24/events"})
    assert gone.json()["result"] == {"count": 1}
    assert len(call(sandbox, "event.get", token).json()["result"]) == 2


def test_event_bind_refusals(sandbox, token):
    params = {"event": "ONCRMDEALADD", "handler": f"{APP}/e"}
    call(sandbox, "event.bind", token, params)
    dup = call(sandbox, "event.bind", token, params)
    assert dup.status_code == 400
    assert dup.json() == {"error": "ERROR_HANDLER_ALREADY_EXIST", "error_description": "Handler already exists!"}
    assert error_of(call(sandbox, "event.bind", token, {"event": "ONNOTHING", "handler": f"{APP}/e"})) == \
        (400, "ERROR_EVENT_NOT_FOUND")
    assert error_of(call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD"})) == (400, "ERROR_ARGUMENT")
    assert error_of(call(sandbox, "event.bind", token, {**params, "event_type": "sometimes"})) == \
        (400, "ERROR_ARGUMENT")


def test_duplicate_event_error_can_follow_core_instead_of_the_docs(make_sandbox):
    sandbox = make_sandbox(event_duplicate_error="core")
    token = tokens(sandbox)["access_token"]
    params = {"event": "ONCRMDEALADD", "handler": f"{APP}/e"}
    call(sandbox, "event.bind", token, params)
    assert call(sandbox, "event.bind", token, params).json() == {
        "error": "ERROR_CORE", "error_description": "Unable to set event handler: Handler already binded"}


def test_events_need_their_scope(make_sandbox):
    sandbox = make_sandbox(app_scope="crm,placement")
    token = tokens(sandbox)["access_token"]
    r = call(sandbox, "event.bind", token, {"event": "ONVOXIMPLANTCALLEND", "handler": f"{APP}/e"})
    assert error_of(r) == (400, "ERROR_EVENT_NOT_FOUND")
    assert "ONVOXIMPLANTCALLEND" not in call(sandbox, "events", token).json()["result"]


def test_a_non_admin_binds_events_for_itself_only(sandbox):
    token = tokens(sandbox, 3)["access_token"]
    assert call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD", "handler": f"{APP}/e"}).status_code == 200
    assert call(sandbox, "event.get", token).json()["result"][0]["auth_type"] == "3"
    other = call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD", "handler": f"{APP}/e", "auth_type": 1})
    assert error_of(other) == (403, "ACCESS_DENIED")
    offline = call(sandbox, "event.bind", token, {"event": "ONCRMDEALADD", "event_type": "offline"})
    assert error_of(offline) == (403, "ACCESS_DENIED")
