"""Tokens and the OAuth server: missing, unknown, expired and revoked tokens; refresh rotation;
the webhook path; server-side app.info; rights of the token's user."""

from __future__ import annotations

import time

import pytest
import requests

from .helpers import admin, call, error_of, hook, refresh, stats, tokens


def test_missing_and_unknown_tokens_are_no_auth_found(sandbox):
    r = requests.post(f"{sandbox.client_endpoint}user.current", timeout=10)
    assert r.status_code == 401
    assert r.json() == {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}
    assert error_of(call(sandbox, "user.current", "not-a-token")) == (401, "NO_AUTH_FOUND")


def test_a_wrong_webhook_key_is_refused(sandbox):
    r = requests.post(f"{sandbox.url}/rest/1/wrong-key/user.current", timeout=10)
    assert error_of(r) == (403, "INVALID_CREDENTIALS")
    assert requests.post(f"{sandbox.url}/rest/2/sandboxhook/user.current", timeout=10).status_code == 403


def test_expired_token_answers_expired_token_and_refresh_gives_a_working_pair(sandbox):
    pair = tokens(sandbox, 3)
    assert call(sandbox, "user.current", pair["access_token"]).status_code == 200
    assert admin(sandbox, "expire-tokens")["expired"] >= 1
    r = call(sandbox, "user.current", pair["access_token"])
    assert r.status_code == 401
    assert r.json() == {"error": "expired_token", "error_description": "The access token provided has expired."}
    fresh = refresh(sandbox, pair["refresh_token"])
    assert fresh.status_code == 200
    body = fresh.json()
    assert list(body) == ["access_token", "client_endpoint", "domain", "expires", "expires_in", "member_id",
                          "refresh_token", "scope", "server_endpoint", "status", "user_id"]
    assert body["domain"] == sandbox.oauth_url.split("://")[1]  # the OAuth server, not the portal
    assert body["client_endpoint"] == sandbox.client_endpoint and body["server_endpoint"] == sandbox.server_endpoint
    assert (body["member_id"], body["status"], body["user_id"], body["expires_in"]) == (sandbox.member_id, "L", 3, 3600)
    assert body["refresh_token"] != pair["refresh_token"]
    assert call(sandbox, "user.current", body["access_token"]).json()["result"]["ID"] == "3"


def test_token_ttl_expires_tokens_by_the_clock(make_sandbox):
    sandbox = make_sandbox(token_ttl=1)
    token = tokens(sandbox)["access_token"]
    assert call(sandbox, "profile", token).status_code == 200
    time.sleep(1.1)
    assert error_of(call(sandbox, "profile", token)) == (401, "expired_token")


def test_refresh_rotates_and_the_old_refresh_token_stops_working(sandbox):
    pair = tokens(sandbox, 2)
    first = refresh(sandbox, pair["refresh_token"])
    assert first.status_code == 200
    again = refresh(sandbox, pair["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant" and again.json()["error_description"]
    second = refresh(sandbox, first.json()["refresh_token"])
    assert second.status_code == 200
    counted = stats(sandbox)
    assert counted["refreshes"] == 2 and counted["refreshes_by_user"] == {"2": 2}


@pytest.mark.parametrize("override", [{"client_secret": "wrong"}, {"client_id": "local.other"}])
def test_a_bad_client_is_invalid_client(sandbox, override):
    r = refresh(sandbox, tokens(sandbox)["refresh_token"], **override)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"


def test_revoked_tokens_answer_invalid_token(sandbox):
    pair = tokens(sandbox)
    assert admin(sandbox, "revoke-tokens")["revoked"] >= 1
    r = call(sandbox, "user.current", pair["access_token"])
    assert r.status_code == 401
    assert r.json() == {"error": "invalid_token", "error_description": "Unable to get application by token"}
    assert refresh(sandbox, pair["refresh_token"]).json()["error"] == "invalid_grant"
    assert hook(sandbox, "user.current").status_code == 200  # webhooks are not app tokens


def test_app_info_on_the_oauth_server(sandbox):
    token = tokens(sandbox, 4)["access_token"]
    r = requests.get(f"{sandbox.oauth_url}/rest/app.info", params={"auth": token}, timeout=10)
    assert r.status_code == 200
    result = r.json()["result"]
    assert set(result) == {"client_id", "scope", "expires", "install", "user_id"}
    assert set(result["install"]) == {"installed", "version", "status", "scope", "domain", "uri", "client_endpoint",
                                      "member_id", "member_type"}
    assert result["user_id"] == 4 and result["client_id"] == sandbox.settings.client_id
    assert result["install"]["member_id"] == sandbox.member_id and result["install"]["domain"] == sandbox.domain
    bad = requests.get(f"{sandbox.oauth_url}/rest/app.info", params={"auth": "forged"}, timeout=10)
    assert error_of(bad) == (401, "NO_AUTH_FOUND")


def test_methods_run_with_the_token_users_rights(sandbox):
    manager = tokens(sandbox, 3)["access_token"]
    rows = call(sandbox, "voximplant.statistic.get", manager, {"start": 0}).json()
    everyone = hook(sandbox, "voximplant.statistic.get", {"start": 0}).json()
    assert 0 < rows["total"] < everyone["total"]
    assert {r["PORTAL_USER_ID"] for r in rows["result"]} == {"3"}
    r = call(sandbox, "placement.bind", manager, {"PLACEMENT": "LEFT_MENU", "HANDLER": "http://127.0.0.1:1/x"})
    assert error_of(r) == (403, "ACCESS_DENIED")


def test_a_webhook_cannot_use_application_only_methods(sandbox):
    r = hook(sandbox, "placement.bind", {"PLACEMENT": "LEFT_MENU", "HANDLER": "http://127.0.0.1:1/x"})
    assert error_of(r) == (403, "WRONG_AUTH_TYPE")
    assert error_of(hook(sandbox, "event.bind", {"event": "ONCRMDEALADD", "handler": "http://127.0.0.1:1/e"})) == \
        (403, "WRONG_AUTH_TYPE")


def test_a_missing_scope_is_insufficient_scope(make_sandbox):
    sandbox = make_sandbox(app_scope="crm,placement")
    token = tokens(sandbox)["access_token"]
    r = call(sandbox, "voximplant.statistic.get", token)
    assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
