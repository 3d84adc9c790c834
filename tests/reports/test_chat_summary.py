"""The chat summary's text against the analytics figures of the same period and scope (the installed sandbox
portal's imported calls, with topics chosen and scores made as the quality tests make them): every number is
the dashboard's, a figure without data says so, English on an English portal."""

from __future__ import annotations

from datetime import date

from flask_babel import force_locale

from b24app.analytics import cube, qa_figures, summary
from b24app.analytics.access import department_users
from b24app.analytics.overview_views import duration_text
from b24app.extensions import db
from b24app.portals.models import Portal
from b24app.reports import chat_summary
from b24app.reports.workbook import Scope

from ..analytics.test_qa_figures import World

LINK = "https://portal.example/~AbCd"


def _expected_counts(q) -> dict[str, str]:
    now, before = cube.with_previous(q)

    def line(value_now, value_before, unit=""):
        v = summary.display(value_now, unit)
        change = None if value_now is None or value_before is None else \
            (value_now - value_before) * (100 if unit == "%" else 1)
        c = summary.display(change, unit, signed=True) if change is not None else None
        return (f"{v} %" if unit == "%" else v), c

    return {"calls": line(now.calls, before.calls), "successful": line(now.successful_share, before.successful_share, "%"),
            "missed": line(now.missed, before.missed), "lost": line(now.lost, before.lost),
            "callback": duration_text(now.mean_callback_seconds)}


def test_the_summary_says_what_the_analytics_count(installed, live_app):
    w = World(live_app, installed)
    q = w.query()
    with live_app.ctx():
        text = chat_summary.text(w.pid, q.first, q.last, Scope(), LINK)
        with force_locale("ru"):
            exp = _expected_counts(q)
            qa = qa_figures.summary(q)
            worst = [r for r in qa_figures.items(q) if r.failed][:3]
            agenda = qa_figures.agenda(q)
            mean = summary.display(qa.mean_score)
            rates = [summary.display(r.failure_rate, "%") for r in worst]
    lines = text.split("\n")
    assert lines[0] == f"[B]Отчёт по звонкам за {q.first:%d.%m.%Y}–{q.last:%d.%m.%Y}[/B]"
    assert lines[1] == "Вся компания"
    assert lines[2] == f"Звонков: [B]{exp['calls'][0]}[/B] ({exp['calls'][1]} к прошлому периоду)"
    assert lines[3] == f"Успешных: [B]{exp['successful'][0]}[/B] ({exp['successful'][1]} п. п. к прошлому периоду)"
    assert lines[4] == f"Пропущенных: [B]{exp['missed'][0]}[/B] ({exp['missed'][1]} к прошлому периоду)"
    assert lines[5] == f"Потерянных: [B]{exp['lost'][0]}[/B] ({exp['lost'][1]} к прошлому периоду)"
    assert lines[6] == f"Среднее время до перезвона: {exp['callback'] or 'нет данных'}"
    assert qa.mean_score is not None and lines[7] == f"Средняя оценка качества: {mean} %"
    assert lines[8].startswith("Топ-3 темы: ") and "Новый клиент — 2" in lines[8]
    assert len(worst) == 2 and lines[9] == "Чаще всего не выполняют пункты чек-листа:"  # «частично» is not a failure
    for i, r in enumerate(worst, 1):
        assert lines[9 + i] == (f"{i}. «{r.text}» — не выполнено в {rates[i - 1]} % "
                                f"({r.failed} из {r.answered})")
    assert [r.key for r in worst] == ["i3", "i7"] or [r.key for r in worst] == ["i7", "i3"]
    assert len(agenda) == 2 and lines[12] == "Звонков на планёрку: 2"
    assert lines[13] == f"[URL={LINK}]Полный отчёт в Excel[/URL]"
    assert len(lines) == 14


def test_a_department_scope_counts_its_people_only(installed, live_app):
    w = World(live_app, installed)
    q = w.query()
    with live_app.ctx():
        text = chat_summary.text(w.pid, q.first, q.last, Scope(departments=(3,)), None)
        mine = cube.Query(w.pid, q.first, q.last, users=department_users(w.pid, (3,)))
        with force_locale("ru"):
            exp = _expected_counts(mine)
            whole = _expected_counts(q)
    assert "Отделы: Колл-центр" in text
    assert f"Звонков: [B]{exp['calls'][0]}[/B]" in text and exp["calls"] != whole["calls"]
    assert "Средняя оценка качества: нет данных" in text  # the scores are of sales managers 3 and 4
    assert "Новый клиент" not in text and text.endswith("Файл отчёта: нет данных")


def test_a_period_without_calls_says_no_data(installed, live_app):
    with live_app.ctx():
        pid = db.session.query(Portal.id).scalar()
        text = chat_summary.text(pid, date(2020, 1, 6), date(2020, 1, 12), Scope(), LINK)
    assert "Звонков: [B]0[/B] (0 к прошлому периоду)" in text
    assert "Успешных: [B]нет данных[/B] (к прошлому периоду: нет данных)" in text
    for line in ("Среднее время до перезвона: нет данных", "Средняя оценка качества: нет данных",
                 "Топ-3 темы: нет данных", "Худшие пункты чек-листа: нет данных", "Звонков на планёрку: 0"):
        assert line in text.split("\n")


def test_an_english_portal_gets_the_summary_in_english(installed, live_app):
    w = World(live_app, installed)
    q = w.query()
    with live_app.ctx():
        db.session.get(Portal, w.pid).language = "en"
        db.session.commit()
        text = chat_summary.text(w.pid, q.first, q.last, Scope(), LINK)
    assert text.startswith(f"[B]Call report for {q.first:%d.%m.%Y}–{q.last:%d.%m.%Y}[/B]\nWhole company\nCalls: [B]")
    assert "Team meeting calls: 2" in text and f"[URL={LINK}]Full report in Excel[/URL]" in text
    for russian in ("Звонков", "Успешных", "Пропущенных", "к прошлому периоду", "нет данных", "Топ-3", "планёрк"):
        assert russian not in text
