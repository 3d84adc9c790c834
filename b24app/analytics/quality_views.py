"""Quality figures from the reviewers' scores: cards by stage, scores per manager, topic, checklist, reviewer."""

from __future__ import annotations

from flask import current_app, g, jsonify, render_template, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _

from ..messages import register
from . import qa_figures
from .access import SEES_EVERYONE
from .blueprint import bp
from .page import Page, analytics_view, layout, refuse, tab, wants_json, wants_xlsx
from .summary import display
from .view import ViewError

tab("analytics.quality", _("Качество"), 80)

register({
    "analytics.quality_bad_sort": _("Сортировка таблицы качества указана неверно. Нажмите на заголовок столбца, "
                                    "чтобы отсортировать."),
})

GROUP_LABELS = {"manager": _("Сотрудник"), "topic": _("Тема"), "checklist": _("Чек-лист"),
                "reviewer": _("Контролёр")}
GROUP_TITLES = {"manager": _("По сотрудникам"), "topic": _("По темам"), "checklist": _("По чек-листам"),
                "reviewer": _("По контролёрам")}
STAGE_LABELS = {"review": _("Оценить"), "done": _("Оценено"), "short": _("Короткий звонок"),
                "skipped": _("Без оценки")}
# Sortable columns of the four tables: URL `sort=<group>_<column>`, "-" first for descending.
COLUMNS = {"name": lambda r: r["name"].lower(), "scored": lambda r: r["scored"],
           "mean": lambda r: r["mean_score"], "pass": lambda r: r["pass_rate"],
           "critical": lambda r: r["critical_failed"]}


def _sort(raw: str) -> tuple[str, str, bool] | None:
    """(group, column, descending) of `sort=`, None without one; anything else is refused."""
    if not raw:
        return None
    desc = raw.startswith("-")
    group, _sep, column = raw.lstrip("-").partition("_")
    if group not in qa_figures.GROUPS or column not in COLUMNS:
        raise ViewError("analytics.quality_bad_sort")
    return group, column, desc


def _ordered(rows: list[dict], column: str, desc: bool) -> list[dict]:
    key = COLUMNS[column]
    known = sorted((r for r in rows if key(r) is not None), key=key, reverse=desc)
    return known + [r for r in rows if key(r) is None]  # «нет данных» stays last either way


def _call_url(page: Page, call_pk: int) -> str | None:
    """The analytics call page (its period and filters kept for the way back), None if it does not exist."""
    if "analytics.call" not in current_app.view_functions:
        return None
    return url_for("analytics.call", call_id=call_pk, ft=g.frame_token, **page.state.to_args())


def _group_rows(page: Page, group: str) -> list[dict]:
    rows = qa_figures.by(page.query, group)
    names = qa_figures.names(page.viewer.portal_id, group, [r.key for r in rows])
    out = []
    for r in rows:
        if group == "manager":
            name = page.user_name(r.key)
            drill = page.url(users=(r.key,)) if r.key else None
        elif group == "topic":
            name = names.get(r.key) or (gettext("Без темы") if not r.key else f"#{r.key}")
            drill = page.url(topics=(r.key,)) if r.key else None
        else:
            name = names.get(r.key) or f"#{r.key}"
            drill = None
        out.append({"key": r.key, "name": name, "scored": r.scored, "mean_score": r.mean_score,
                    "pass_rate": r.pass_rate, "critical_failed": r.critical_failed, "url": drill})
    return out


def _agenda(page: Page, setup) -> list[dict]:
    rows = qa_figures.agenda(page.query)
    topics = qa_figures.topic_names(page.viewer.portal_id, [a.topic_id for a in rows])
    reviewers = qa_figures.names(page.viewer.portal_id, "reviewer", [a.reviewer_id for a in rows])
    return [{
        "score_id": a.score_id, "call_id": a.call_pk, "qa_item_id": a.qa_item_id,
        "started": a.started.astimezone(page.tz).isoformat(), "when": a.started.astimezone(page.tz),
        "manager_id": a.manager_id, "manager": page.user_name(a.manager_id),
        "topic": topics.get(a.topic_id, "") if a.topic_id else "", "percent": a.percent,
        "reviewer_id": a.reviewer_id, "reviewer": reviewers.get(a.reviewer_id, f"#{a.reviewer_id}"),
        "comment": a.comment, "critical_failed": a.critical_failed,
        "call_url": _call_url(page, a.call_pk),
        "card_path": f"/crm/type/{setup.entity_type_id}/details/{a.qa_item_id}/" if setup else None,
    } for a in rows]


def _rounds(page: Page) -> list[dict]:
    # Calibration is the reviewers' own check: managers and department heads do not see it.
    if not any(page.viewer.has(r) for r in SEES_EVERYONE):
        return []
    return [{"id": r.id, "qa_item_id": r.qa_item_id, "call_id": r.call_pk,
             "created": r.created_at.astimezone(page.tz).isoformat(), "when": r.created_at.astimezone(page.tz),
             "reviewers": r.reviewers, "submitted": r.submitted, "done": r.done, "mean": r.mean,
             "spread": r.spread, "stdev": r.stdev, "agreement": r.agreement,
             "call_url": _call_url(page, r.call_pk) if r.call_pk else None}
            for r in qa_figures.calibration(page.query)]


def _items(page: Page) -> list[dict]:
    return [{"checklist_id": r.checklist_id, "checklist": r.checklist, "version": r.version, "key": r.key,
             "section": r.section, "text": r.text, "critical": r.critical, "answered": r.answered,
             "failed": r.failed, "failure_rate": r.failure_rate} for r in qa_figures.items(page.query)]


@bp.route("/b24/analytics/quality", methods=["GET", "POST"])
@analytics_view
def quality(page: Page):
    try:
        sort = _sort(page.state.sort)
    except ViewError as exc:
        return refuse(exc)
    from ..qa.bootstrap import setup_for

    q = page.query
    s = qa_figures.summary(q)
    stages = qa_figures.cards_by_stage(page.viewer.portal_id, q)
    groups = {g: _group_rows(page, g) for g in qa_figures.GROUPS} if s.scored else {g: [] for g in qa_figures.GROUPS}
    if sort:
        groups[sort[0]] = _ordered(groups[sort[0]], sort[1], sort[2])
    items = _items(page) if s.scored else []
    agenda = _agenda(page, setup_for(page.viewer.portal_id)) if s.scored else []
    rounds = _rounds(page)
    data = {
        "summary": {"scored": s.scored, "mean_score": s.mean_score, "pass_rate": s.pass_rate,
                    "pass_percent": qa_figures.PASS_PERCENT},
        "stages": {st.key: st.count for st in stages},
        "groups": {g: [{k: v for k, v in r.items() if k != "url"} for r in rows] for g, rows in groups.items()},
        "items": items,
        "agenda": [{k: v for k, v in a.items() if k != "when"} for a in agenda],
        "calibration": [{k: v for k, v in r.items() if k != "when"} for r in rounds],
    }
    if wants_xlsx():
        from ..reports import view_export

        return view_export.quality(page, s, stages, STAGE_LABELS, groups, GROUP_LABELS, GROUP_TITLES, items, agenda,
                                   rounds, sort)
    if wants_json():
        return jsonify(data)
    return render_template(
        "analytics/quality.html", **layout(page), summary=s, stages=stages, stage_labels=STAGE_LABELS,
        groups=groups, group_labels=GROUP_LABELS, group_titles=GROUP_TITLES, items=items, agenda=agenda,
        rounds=rounds, sort=sort, pass_percent=qa_figures.PASS_PERCENT, show=display,
        sort_url=lambda group, column: page.url(sort=_next_sort(sort, group, column)))


def _next_sort(current, group: str, column: str) -> str:
    """Clicking a header sorts by it (names A→Z, figures largest first); clicking again reverses."""
    if current and current[:2] == (group, column):
        return f"{'' if current[2] else '-'}{group}_{column}"
    return f"{'' if column == 'name' else '-'}{group}_{column}"
