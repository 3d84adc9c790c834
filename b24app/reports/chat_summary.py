"""The report's short summary for the chat: BB codes as Bitrix24 chat renders them, in the portal's language.

Every figure is read from analytics/ (the cube, summary.lines/display, qa_figures), the same numbers as the
dashboard and the workbook's «Сводка» for the same period and scope; a figure without data says so.
"""

from __future__ import annotations

from datetime import date

from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from ..analytics import cube, qa_figures, summary
from ..extensions import db
from ..models_base import utcnow
from ..portals.models import Portal
from ..portals.roles import departments as portal_departments

TOP_TOPICS = 3
WORST_ITEMS = 3
# The two figures the summary leads with, read like the key figures (change against the previous period).
CALLS = summary.KeyFigure("calls", _l("Звонков"), lambda f: f.calls, better=0)
SUCCESSFUL = summary.KeyFigure("successful_share", _l("Успешных"), lambda f: f.successful_share, "%")


def scope_users(portal_id: int, scope) -> frozenset[int] | None:
    """Whose calls the summary counts: exactly the workbook's (its `scope_users`), so both tell one story."""
    from .workbook import scope_users as of_workbook

    return of_workbook(portal_id, scope)


def period_text(first: date, last: date) -> str:
    return f"{first.strftime('%d.%m.%Y')}–{last.strftime('%d.%m.%Y')}"


def _no_data() -> str:
    return gettext("нет данных")


def _value(value, unit: str = "") -> str:
    text = summary.display(value, unit)
    if text is None:
        return _no_data()
    return f"{text} %" if unit == "%" else text


def _change(line: summary.Line) -> str:
    """«+56 к прошлому периоду», in percentage points for shares."""
    if line.change is None:
        return gettext("к прошлому периоду: нет данных")
    text = summary.display(line.change, line.figure.unit, signed=True)
    if line.figure.unit == "%":
        return gettext("%(c)s п. п. к прошлому периоду", c=text)
    return gettext("%(c)s к прошлому периоду", c=text)


def _score(percent: float | None) -> str:
    """A QA score, already 0..100."""
    text = summary.display(percent)
    return f"{text} %" if text is not None else _no_data()


def _figure_line(label: str, line: summary.Line) -> str:
    return f"{label}: [B]{_value(line.now, line.figure.unit)}[/B] ({_change(line)})"


def _scope_text(portal_id: int, scope) -> str:
    if getattr(scope, "users", None) is not None:
        return gettext("Сотрудников в отчёте: %(n)s", n=len(scope.users))
    ids = set(getattr(scope, "departments", ()) or ())
    if not ids:
        return gettext("Вся компания")
    names = [d.name for d in portal_departments(portal_id) if d.department_id in ids]
    return gettext("Отделы: %(names)s", names=", ".join(names) or ", ".join(f"#{i}" for i in sorted(ids)))


def _topics(q: cube.Query, now) -> str:
    by_topic = cube.figures(q, ("topic",), now=now)
    counted = [(k[0], f.calls) for k, f in by_topic.items() if k[0] and f.calls]
    if not counted:
        return _no_data()
    names = qa_figures.topic_names(q.portal_id, [t for t, _ in counted])
    top = sorted(counted, key=lambda tc: (-tc[1], names.get(tc[0], "").lower(), tc[0]))[:TOP_TOPICS]
    return ", ".join(f"{names.get(t, f'#{t}')} — {summary.display(n)}" for t, n in top)


def _worst_items(q: cube.Query) -> list[str]:
    worst = [r for r in qa_figures.items(q) if r.failed and r.failure_rate is not None][:WORST_ITEMS]
    return [gettext("%(i)s. «%(text)s» — не выполнено в %(rate)s (%(failed)s из %(answered)s)", i=n, text=r.text,
                    rate=_value(r.failure_rate, "%"), failed=r.failed, answered=r.answered)
            for n, r in enumerate(worst, 1)]


def text(portal_id: int, first: date, last: date, scope, link: str | None) -> str:
    """The summary of local days first..last for `scope` (a workbook.Scope), with the file's link."""
    portal = db.session.get(Portal, portal_id)
    lang = (portal.language if portal is not None else "") or "ru"
    with force_locale(lang if lang in ("ru", "en") else "ru"):
        return _text(portal_id, first, last, scope, link)


def _text(portal_id: int, first: date, last: date, scope, link: str | None) -> str:
    now = utcnow()
    q = cube.Query(portal_id, first, last, users=scope_users(portal_id, scope))
    f_now, f_before = cube.with_previous(q, now=now)
    figure = {line.figure.key: line for line in summary.lines(f_now, f_before)}
    qa = qa_figures.summary(q)
    meeting = len(qa_figures.agenda(q))
    mean_callback = _duration(f_now.mean_callback_seconds)
    lines = [
        "[B]" + gettext("Отчёт по звонкам за %(period)s", period=period_text(first, last)) + "[/B]",
        _scope_text(portal_id, scope),
        _figure_line(gettext("Звонков"), summary.Line(CALLS, CALLS.value(f_now), CALLS.value(f_before))),
        _figure_line(gettext("Успешных"), summary.Line(SUCCESSFUL, SUCCESSFUL.value(f_now),
                                                        SUCCESSFUL.value(f_before))),
        _figure_line(gettext("Пропущенных"), figure["missed"]),
        _figure_line(gettext("Потерянных"), figure["lost"]),
        gettext("Среднее время до перезвона: %(t)s", t=mean_callback or _no_data()),
        gettext("Средняя оценка качества: %(s)s", s=_score(qa.mean_score)),
        gettext("Топ-3 темы: %(topics)s", topics=_topics(q, now)),
    ]
    worst = _worst_items(q)
    if worst:
        lines.append(gettext("Чаще всего не выполняют пункты чек-листа:"))
        lines.extend(worst)
    else:
        lines.append(gettext("Худшие пункты чек-листа: нет данных"))
    lines.append(gettext("Звонков на планёрку: %(n)s", n=meeting))
    if link:
        lines.append(f"[URL={link}]" + gettext("Полный отчёт в Excel") + "[/URL]")
    else:
        lines.append(gettext("Файл отчёта: нет данных"))
    return "\n".join(lines)


def _duration(seconds: float | None) -> str | None:
    from ..analytics.overview_views import duration_text  # the overview's wording of a mean callback time

    return duration_text(seconds)
