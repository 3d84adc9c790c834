"""The QA card's history: one append-only row per draft, submit, dispute, decision or re-score."""

from __future__ import annotations

from flask_babel import gettext
from sqlalchemy import select

from ..extensions import db
from ..models_base import row_for_portal
from .models import QaEvent, QaSettings

# kind → what the card's history says (translated where it is shown)
KINDS = ("draft", "submit", "rescore", "unscorable", "takeover", "acknowledge", "dispute", "kept", "changed",
         "reassign", "calibration")


def label(kind: str) -> str:
    """What the card's history calls an event, in the viewer's language (one place for every page)."""
    return {
        "draft": gettext("Черновик оценки"),
        "submit": gettext("Оценка отправлена"),
        "rescore": gettext("Оценка исправлена контролёром"),
        "unscorable": gettext("Отмечено: нельзя оценить"),
        "takeover": gettext("Оценку продолжил другой контролёр"),
        "acknowledge": gettext("Менеджер согласился с оценкой"),
        "dispute": gettext("Менеджер оспорил оценку"),
        "kept": gettext("Арбитр оставил оценку"),
        "changed": gettext("Арбитр изменил оценку"),
        "reassign": gettext("Карточка передана другому контролёру"),
        "calibration": gettext("Оценка для калибровки"),
    }.get(kind, kind)


def record(portal_id: int, qa_item_id: int, kind: str, actor_id: int | None, *, score_id: int | None = None,
           percent: float | None = None, text: str = "") -> QaEvent:
    """Add one event to the session; the caller commits it with the change it describes."""
    if kind not in KINDS:
        raise ValueError(kind)
    ev = QaEvent(portal_id=portal_id, qa_item_id=qa_item_id, kind=kind, actor_id=actor_id, score_id=score_id,
                 percent=percent, text=text[:4000])
    db.session.add(ev)
    return ev


def history_for(portal_id: int, qa_item_id: int) -> list[QaEvent]:
    return list(db.session.scalars(select(QaEvent).where(QaEvent.portal_id == portal_id,
                                                         QaEvent.qa_item_id == qa_item_id)
                                   .order_by(QaEvent.created_at, QaEvent.id)))


def settings_for(portal_id: int) -> QaSettings:
    return row_for_portal(QaSettings, portal_id)
