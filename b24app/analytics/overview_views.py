"""The overview: KPI tiles against the previous period, lost vs missed, plan vs fact, top topics, calls by day, scenarios."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from . import cube, plan, summary
from .metrics import Figures
from .page import SCENARIO_LABELS, Page
from .summary import FIGURE, KeyFigure, Line

TOP_TOPICS = 7

# The QA figures are not call counters: read from qa_figures.summary(q), shown like the others.
QA_SCORED = KeyFigure("qa_scored", _l("Оценено звонков"), lambda s: s.scored)
QA_MEAN = KeyFigure("qa_mean_score", _l("Средний балл оценки"), lambda s: s.mean_score)

TILE_KEYS = ("incoming", "accepted", "missed", "lost", "recovered", "successful_incoming", "successful_outgoing",
             "talk", "aht", "asa", "service_level", "csat")


@dataclass
class TopicRow:
    topic_id: int
    name: str
    color: str
    calls: int
    before: int
    share: float | None       # of the period's calls with a topic


@dataclass
class DayBar:
    day: date
    accepted: int = 0
    recovered: int = 0
    lost: int = 0
    awaiting: int = 0
    outgoing_connected: int = 0
    outgoing_failed: int = 0


@dataclass
class ScenarioRow:
    key: str
    label: object
    figures: Figures


@dataclass
class Overview:
    now: Figures
    before: Figures
    tiles: list[Line]
    notes: dict[str, str]
    topics: list[TopicRow]
    no_topic: tuple[int, int]       # calls without a topic: now, before
    topic_calls: int                # calls with a topic in the period
    days: list[DayBar]
    scenarios: list[ScenarioRow]
    plan: plan.PlanFact


def calls_of(f: Figures) -> int:
    """Client calls: incoming and outgoing (info calls and callbacks of robots are neither)."""
    return f.incoming + f.outgoing


def _sum(values) -> Figures:
    out = Figures()
    for f in values:
        out.add(f)
    return out


def build(page: Page) -> Overview:
    """Every figure of the overview from four cube reads, each at the smallest grain that has it: the
    period by day (its totals and chart), by topic and by scenario, and the previous period by topic.
    One read by day × topic × scenario would need the full grain: ten times the cells at a million calls."""
    kw = {"settings": page.settings, "now": page.now}
    by_day = {k[0]: f for k, f in cube.figures(page.query, ("day",), **kw).items()}
    by_topic = {k[0]: f for k, f in cube.figures(page.query, ("topic",), **kw).items()}
    by_scenario = {k[0]: f for k, f in cube.figures(page.query, ("scenario",), **kw).items()}
    previous = cube.figures(page.previous, ("topic",), **kw)
    now, before = _sum(by_day.values()), _sum(previous.values())
    qa_now, qa_before = _qa(page.query), _qa(page.previous)
    tiles = _tiles(page, now, before, qa_now, qa_before)
    before_topic = {k[0]: f for k, f in previous.items()}
    topics, topic_calls = _topics(page, by_topic, before_topic)
    no_topic = (calls_of(by_topic.get(0, Figures())), calls_of(before_topic.get(0, Figures())))
    return Overview(now, before, tiles, _notes(page, now), topics, no_topic, topic_calls,
                    _days(page, by_day), _scenarios(by_scenario), plan.plan_fact(page))


def _qa(q: cube.Query):
    from . import qa_figures  # the QA tables are read only here: imported when a page asks

    return qa_figures.summary(q)


def _tiles(page: Page, now: Figures, before: Figures, qa_now, qa_before) -> list[Line]:
    out = []
    for key in TILE_KEYS:
        fig = (summary.TALK_HOURS if page.state.unit == "h" else FIGURE["talk_minutes"]) if key == "talk" \
            else FIGURE[key]
        out.append(Line(fig, fig.value(now), fig.value(before)))
    for fig in (QA_SCORED, QA_MEAN):
        out.append(Line(fig, fig.value(qa_now), fig.value(qa_before)))
    return out


def duration_text(seconds: float | None) -> str | None:
    """«45 с», «12 мин», «3 ч 5 мин»: a mean time to callback as a person says it."""
    if seconds is None:
        return None
    s = int(round(seconds))
    if s < 60:
        return gettext("%(s)s с", s=s)
    if s < 3600:
        return gettext("%(m)s мин", m=s // 60)
    return gettext("%(h)s ч %(m)s мин", h=s // 3600, m=s % 3600 // 60)


def _notes(page: Page, f: Figures) -> dict[str, str]:
    """The line under a tile's value."""
    ms = page.settings.metrics

    def pct(value):
        return summary.display(value, "%") + " %"

    notes = {"successful_incoming": gettext("разговор дольше %(n)s с", n=ms.success_seconds),
             "successful_outgoing": gettext("разговор дольше %(n)s с", n=ms.success_seconds),
             "service_level": gettext("ответ за %(n)s с", n=ms.service_level_seconds)}
    if f.missed_share is not None:
        notes["missed"] = gettext("%(p)s от входящих", p=pct(f.missed_share))
        notes["lost"] = gettext("%(p)s от входящих", p=pct(f.lost_share))
    mean = duration_text(f.mean_callback_seconds)
    notes["recovered"] = (gettext("в среднем через %(t)s", t=mean) if mean
                          else gettext("среднее время до перезвона: нет данных"))
    return notes


def _topics(page: Page, now: dict, before: dict) -> tuple[list[TopicRow], int]:
    from ..topics.models import Topic

    ids = sorted(k for k in set(now) | set(before) if k)
    rows = {}
    if ids:
        rows = {tid: (name, color) for tid, name, color in db.session.execute(
            select(Topic.id, Topic.name, Topic.color).where(Topic.portal_id == page.viewer.portal_id,
                                                            Topic.id.in_(ids)))}
    counted = [(tid, calls_of(f)) for tid, f in now.items() if tid and calls_of(f)]
    total = sum(c for _, c in counted)
    ranked = sorted(counted, key=lambda tc: (-tc[1], rows.get(tc[0], ("",))[0].lower(), tc[0]))[:TOP_TOPICS]
    out = []
    for tid, calls in ranked:
        name, color = rows.get(tid, (f"#{tid}", "#a8adb4"))
        out.append(TopicRow(tid, name, color, calls, calls_of(before.get(tid, Figures())),
                            calls / total if total else None))
    return out, total


def _days(page: Page, by_day: dict) -> list[DayBar]:
    out, q = [], page.query
    for i in range(q.days):
        day = q.first + timedelta(days=i)
        f = by_day.get(day)
        if f is None:
            out.append(DayBar(day))
            continue
        out.append(DayBar(day, f.accepted, f.recovered, f.lost, f.awaiting_callback, f.outgoing_connected,
                          f.outgoing - f.outgoing_connected))
    return out


def _scenarios(by_scenario: dict) -> list[ScenarioRow]:
    return [ScenarioRow(key, label, by_scenario.get(cube.SCENARIOS[key], Figures()))
            for key, label in SCENARIO_LABELS]


# --- JSON ------------------------------------------------------------------------------------------------

def _period(p) -> dict:
    return {"key": p.key, "first": p.first.isoformat(), "last": p.last.isoformat(), "days": p.days,
            "label": p.label}


def as_json(o: Overview, page: Page) -> dict:
    """The same figures as the page shows (values raw: shares 0..1, times in seconds, talk in the page's unit)."""
    from . import recount

    f = o.now
    return {
        "period": _period(page.state.period),
        "previous": _period(page.state.period.previous()),
        "now": page.now.isoformat(),
        "unit": page.state.unit,
        "scope": page.scope.kind,
        "version": recount.version(page.viewer.portal_id),
        "tiles": [{"key": line.figure.key, "label": str(line.figure.label), "unit": line.figure.unit,
                   "better": line.figure.better, "now": line.now, "before": line.before, "change": line.change,
                   "verdict": line.verdict, "note": o.notes.get(line.figure.key)} for line in o.tiles],
        "mean_callback_seconds": {"now": f.mean_callback_seconds, "before": o.before.mean_callback_seconds},
        "missed": {"missed": f.missed, "recovered": f.recovered, "awaiting": f.awaiting_callback, "lost": f.lost,
                   "incoming": f.incoming, "missed_share": f.missed_share, "lost_share": f.lost_share,
                   "shares_of_missed": shares_of_missed(f)},
        "topics": {"top": [{"id": t.topic_id, "name": t.name, "color": t.color, "calls": t.calls,
                            "before": t.before, "share": t.share} for t in o.topics],
                   "with_topic": o.topic_calls, "no_topic": {"calls": o.no_topic[0], "before": o.no_topic[1]}},
        "by_day": [{"day": d.day.isoformat(), "accepted": d.accepted, "recovered": d.recovered, "lost": d.lost,
                    "awaiting": d.awaiting, "outgoing_connected": d.outgoing_connected,
                    "outgoing_failed": d.outgoing_failed} for d in o.days],
        "scenarios": [{"key": s.key, "label": str(s.label), "incoming": s.figures.incoming,
                       "missed": s.figures.missed, "lost": s.figures.lost, "awaiting": s.figures.awaiting_callback,
                       "missed_share": s.figures.missed_share, "lost_share": s.figures.lost_share}
                      for s in o.scenarios],
        "plan": {"plan": o.plan.plan, "basis": o.plan.basis, "fact": o.plan.fact, "done": o.plan.done},
    }


def shares_of_missed(f: Figures) -> dict:
    """Recovered, awaiting and lost as shares of the missed calls (None without missed calls)."""
    if not f.missed:
        return {"recovered": None, "awaiting": None, "lost": None}
    return {"recovered": f.recovered / f.missed, "awaiting": f.awaiting_callback / f.missed,
            "lost": f.lost / f.missed}


def chart_data(o: Overview) -> dict:
    """Calls by day for Chart.js: labels and one stacked dataset per outcome."""
    lang_days = [d.day.strftime("%d.%m") for d in o.days]
    sets = [
        ("accepted", gettext("Принятые входящие"), "#9dcf00", [d.accepted for d in o.days]),
        ("recovered", gettext("Пропущенные, перезвонили"), "#2fc6f6", [d.recovered for d in o.days]),
        ("lost", gettext("Потерянные и ждут перезвона"), "#ff5752", [d.lost + d.awaiting for d in o.days]),
        ("outgoing_connected", gettext("Исходящие состоявшиеся"), "#7b68ee", [d.outgoing_connected for d in o.days]),
        ("outgoing_failed", gettext("Исходящие без ответа"), "#c6cdd3", [d.outgoing_failed for d in o.days]),
    ]
    return {"labels": lang_days, "days": [d.day.isoformat() for d in o.days],
            "datasets": [{"key": k, "label": label, "color": color, "data": data} for k, label, color, data in sets]}
