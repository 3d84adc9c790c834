"""`python -m b24app.sandbox serve` prints one JSON line once it listens, then serves until stopped."""

from __future__ import annotations

import json
import subprocess
import sys

import requests


def test_serve_prints_addresses_and_serves():
    proc = subprocess.Popen([sys.executable, "-m", "b24app.sandbox", "serve", "--rows", "120", "--rate", "5/7",
                             "--call-cost", "0.01", "--seed", "3", "--app-url", "http://127.0.0.1:9"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"url", "oauth_url", "member_id", "webhook_url", "client_id", "client_secret"}
        assert info["webhook_url"] == info["url"] + "/rest/1/sandboxhook/"
        body = requests.get(info["webhook_url"] + "voximplant.statistic.get", params={"start": 0}, timeout=10).json()
        assert body["total"] == 120 and body["time"]["processing"] >= 0.01
        knobs = requests.get(info["url"] + "/_sandbox/settings", timeout=10).json()
        assert (knobs["rate"], knobs["burst"], knobs["seed"], knobs["app_url"]) == (5.0, 7, 3, "http://127.0.0.1:9")
        assert knobs["member_id"] == info["member_id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0
