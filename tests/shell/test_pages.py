"""Shell pages over plain HTTP: every page renders, and a smart-process item opens its detail tabs."""

from __future__ import annotations

import html
import json
import re

import requests


def test_every_page_renders(installed):
    for path in ("/", "/chat/", "/disk/", "/telephony/", "/crm/type/", "/crm/analytics/", "/app/",
                 "/crm/type/1030/list/", "/crm/type/1030/kanban/"):
        r = requests.get(f"{installed.url}{path}?user=2", timeout=10)
        assert r.status_code == 200, path
        assert 'data-testid="left-menu"' in r.text and "Иван Петров" in r.text


def test_item_page_opens_detail_tabs_with_the_item_id(installed):
    hook = f"{installed.url}/rest/1/{installed.state.settings.webhook_token}/"
    spa = next(t for t in requests.post(hook + "crm.type.list", timeout=10).json()["result"]["types"])
    etid = spa["entityTypeId"]
    item = requests.post(hook + "crm.item.add", json={"entityTypeId": etid, "fields": {"title": "Проверка"}},
                         timeout=10).json()["result"]["item"]
    page = requests.get(f"{installed.url}/crm/type/{etid}/details/{item['id']}/?user=1", timeout=10).text
    assert f'data-placement="CRM_DYNAMIC_{etid}_DETAIL_TAB"' in page and "Проверка" in page
    options = re.search(r'name="PLACEMENT_OPTIONS" value="([^"]*)"', page).group(1)
    assert json.loads(html.unescape(options)) == {"ID": str(item["id"])}
    listing = requests.get(f"{installed.url}/crm/type/{etid}/kanban/?user=1", timeout=10).text
    assert f"/crm/type/{etid}/details/{item['id']}/" in listing
