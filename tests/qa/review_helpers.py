"""Helpers for scoring tests: a real call with a QA card in the sandbox, reviewers, and the form's requests."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass

import requests
from sqlalchemy import select

from b24app.calls.models import Call
from b24app.extensions import db
from b24app.portals import roles
from b24app.portals.models import Portal
from b24app.qa.models import QaSetup

from ..platform.helpers import frame_token_from, open_placement

MANAGER, REVIEWER, REVIEWER2 = 3, 5, 6


@dataclass
class Card:
    portal_id: int
    item_id: int
    call_id: str
    entity_type_id: int
    setup: QaSetup


def phone_call(sandbox, user_id: int = MANAGER, phone: str = "+79991234567", talk: int = 95,
               direction: str = "outgoing") -> str:
    def post(path, body=None):
        r = requests.post(f"{sandbox.url}/_sandbox/phone{path}", json=body or {}, timeout=30)
        r.raise_for_status()
        return r.json()

    call_id = post("/start", {"user_id": user_id, "phone": phone, "direction": direction})["call_id"]
    post(f"/{call_id}/answer")
    post(f"/{call_id}/hangup", {"talk_seconds": talk})
    return call_id


def grant(live_app, portal_id: int, *users: int, role: str = "qa") -> None:
    with live_app.ctx():
        for u in users:
            roles.grant(portal_id, u, role, 1)


def make_card(installed, live_app, user_id: int = MANAGER, topic: str | None = "Новый клиент",
              reviewers=(REVIEWER, REVIEWER2), talk: int = 95) -> Card:
    """A finished call of `user_id` with its QA card and record; `topic` chosen by the manager."""
    with live_app.ctx():
        pid = db.session.scalar(select(Portal.id).where(Portal.member_id == installed.member_id))
    if reviewers:
        grant(live_app, pid, *reviewers)
    call_id = phone_call(installed, user_id, talk=talk)
    deadline = time.time() + 20
    while True:
        with live_app.ctx():
            call = db.session.scalar(select(Call).where(Call.portal_id == pid, Call.call_id == call_id))
            ready = call is not None and call.qa_item_id and call.record_file_id
            if ready or time.time() > deadline:
                setup = db.session.scalar(select(QaSetup).where(QaSetup.portal_id == pid))
                db.session.expunge_all()
                break
        time.sleep(0.1)
    assert ready, "the call got no card or no record"
    if topic:
        from b24app.topics import service
        from b24app.topics.models import Topic

        with live_app.ctx():
            t = db.session.scalar(select(Topic).where(Topic.portal_id == pid, Topic.name == topic))
            service.choose(pid, call_id, t.id, user_id, "card", privileged=True)
    return Card(pid, call.qa_item_id, call_id, setup.entity_type_id, setup)


def open_form(installed, live_app, card: Card, user_id: int = REVIEWER, lang: str = "ru") -> requests.Response:
    return open_placement(installed, live_app, "/b24/qa/card", user_id=user_id, lang=lang,
                          placement=f"CRM_DYNAMIC_{card.entity_type_id}_DETAIL_TAB", options={"ID": str(card.item_id)})


def form_config(page: requests.Response) -> dict:
    m = re.search(r'<script type="application/json" id="qa-config">(.*?)</script>', page.text, re.S)
    assert m, page.text[:800]
    return json.loads(m.group(1))


class Form:
    """One reviewer's open form: its token, config and the answers it would post."""

    def __init__(self, installed, live_app, card: Card, user_id: int = REVIEWER):
        self.live_app, self.card = live_app, card
        self.page = open_form(installed, live_app, card, user_id)
        assert self.page.status_code == 200, self.page.text[:500]
        self.token = frame_token_from(self.page.text)
        self.config = form_config(self.page)
        self.revision = self.config["revision"]

    def items(self) -> list[tuple[str, dict]]:
        return [(str(it.get("id") or f"{si}.{ii}"), it) for si, sec in enumerate(self.config["items"])
                for ii, it in enumerate(sec["items"])]

    def post(self, action: str, body: dict, keep_revision: bool = False) -> requests.Response:
        payload = {"revision": self.revision, "version_id": self.config["versionId"], **body}
        r = requests.post(f"{self.live_app.url}/b24/qa/card/{self.card.item_id}/{action}", json=payload,
                          headers={"X-Frame-Token": self.token}, timeout=30)
        if r.status_code == 200 and not keep_revision:
            self.revision = r.json()["revision"]
        return r


def all_yes(form: Form) -> dict:
    return {k: (it.get("max_points") if it.get("scale") == "points" else "yes") for k, it in form.items()}


def rest(sandbox, method: str, params: dict | None = None):
    r = requests.post(f"{sandbox.webhook_url}{method}", json=params or {}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def card_item(sandbox, card: Card) -> dict:
    return rest(sandbox, "crm.item.get", {"entityTypeId": card.entity_type_id, "id": card.item_id,
                                          "useOriginalUfNames": "Y"})["item"]
