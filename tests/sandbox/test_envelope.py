"""The REST envelope: result/total/next/time, error shapes, routes and parameter transports."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlencode

import requests

from .helpers import TIME_KEYS, call, hook, tokens


def test_single_call_has_result_and_a_full_time_block(sandbox):
    r = hook(sandbox, "user.current")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"result", "time"}
    user = body["result"]
    assert user["ID"] == "1" and user["ACTIVE"] is True and user["UF_DEPARTMENT"] == [1]
    assert (user["NAME"], user["LAST_NAME"]) == ("Администратор", "Портала")
    t = body["time"]
    assert set(t) == TIME_KEYS
    assert t["finish"] >= t["start"] and abs(t["duration"] - (t["finish"] - t["start"])) < 1e-6
    assert datetime.fromisoformat(t["date_start"]).utcoffset().total_seconds() == 3 * 3600
    assert isinstance(t["operating_reset_at"], int) and t["operating_reset_at"] > t["start"]


def test_list_call_has_total_and_next_only_when_more(sandbox):
    body = hook(sandbox, "voximplant.statistic.get", {"start": 0}).json()
    assert len(body["result"]) == 50 and body["total"] == 500 and body["next"] == 50
    last = hook(sandbox, "voximplant.statistic.get", {"start": 450}).json()
    assert len(last["result"]) == 50 and last["total"] == 500 and "next" not in last
    users = hook(sandbox, "user.get").json()
    assert users["total"] == len(users["result"]) == 9 and "next" not in users


def test_routes_with_json_suffix_get_and_query_string(sandbox):
    base = sandbox.webhook_url
    assert requests.get(base + "profile.json", timeout=10).json()["result"]["ADMIN"] is True
    q = urlencode({"FILTER[CALL_TYPE]": 2, "SORT": "ID", "ORDER": "ASC"})
    via_get = requests.get(f"{base}voximplant.statistic.get?{q}", timeout=10).json()
    via_form = requests.post(f"{base}voximplant.statistic.get", data={"FILTER[CALL_TYPE]": "2", "SORT": "ID",
                                                                       "ORDER": "ASC"}, timeout=10).json()
    via_json = hook(sandbox, "voximplant.statistic.get", {"FILTER": {"CALL_TYPE": 2}, "SORT": "ID",
                                                          "ORDER": "ASC"}).json()
    assert via_get["result"] == via_form["result"] == via_json["result"]
    assert via_get["total"] == via_json["total"] and all(r["CALL_TYPE"] == "2" for r in via_get["result"])


def test_oauth_token_in_query_form_or_json(sandbox):
    token = tokens(sandbox)["access_token"]
    ep = sandbox.client_endpoint
    assert requests.get(f"{ep}user.admin?auth={token}", timeout=10).json()["result"] is True
    assert requests.post(f"{ep}user.admin", data={"auth": token}, timeout=10).json()["result"] is True
    assert call(sandbox, "user.admin", token).json()["result"] is True


def test_unknown_method_is_404_even_without_auth(sandbox):
    r = requests.post(f"{sandbox.client_endpoint}no.such.method", timeout=10)
    assert r.status_code == 404
    assert r.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    assert hook(sandbox, "no.such.method").status_code == 404


def test_bad_arguments_are_400_with_the_argument_named(sandbox):
    token = tokens(sandbox)["access_token"]
    r = call(sandbox, "placement.bind", token, {"HANDLER": "http://127.0.0.1:9/x"})
    assert r.status_code == 400
    assert r.json() == {"error": "ERROR_ARGUMENT", "error_description": "Argument 'PLACEMENT' is null or empty",
                        "argument": "PLACEMENT"}
    bad_json = requests.post(f"{sandbox.webhook_url}user.current", data=b"{oops",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert bad_json.status_code == 400 and bad_json.json()["error"] == "ERROR_ARGUMENT"


def test_directory_methods(sandbox):
    deps = hook(sandbox, "department.get").json()
    assert deps["total"] == 4 and {d["NAME"] for d in deps["result"]} >= {"Отдел продаж", "Колл-центр"}
    assert deps["result"][1] == {"ID": "2", "NAME": "Отдел продаж", "SORT": 500, "PARENT": "1", "UF_HEAD": "2"}
    sales = hook(sandbox, "user.get", {"FILTER": {"UF_DEPARTMENT": 2}}).json()["result"]
    assert [u["ID"] for u in sales] == ["2", "3", "4"]
    active = hook(sandbox, "user.get", {"FILTER": {"ACTIVE": True}}).json()
    assert active["total"] == 8
    one = hook(sandbox, "user.get", {"ID": 5}).json()["result"]
    assert [u["LAST_NAME"] for u in one] == ["Соколова"]
    assert hook(sandbox, "user.get", {"start": -1}).json()["total"] == 0


def test_app_info_profile_and_scope_for_an_app_token(sandbox):
    token = tokens(sandbox, 2)["access_token"]
    info = call(sandbox, "app.info", token).json()["result"]
    assert set(info) == {"ID", "CODE", "VERSION", "STATUS", "INSTALLED", "PAYMENT_EXPIRED", "DAYS", "LANGUAGE_ID",
                         "LICENSE", "LICENSE_TYPE", "LICENSE_FAMILY"}
    assert info["INSTALLED"] is False and info["STATUS"] == "L" and info["CODE"] == sandbox.settings.client_id
    assert call(sandbox, "profile", token).json()["result"] == {
        "ID": "2", "ADMIN": False, "NAME": "Иван", "LAST_NAME": "Петров", "PERSONAL_GENDER": "M", "TIME_ZONE": ""}
    assert call(sandbox, "user.admin", token).json()["result"] is False
    assert "telephony" in call(sandbox, "scope", token).json()["result"]
