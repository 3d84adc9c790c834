"""The key figures in the order every summary shows them (the CRM tab, the workbook's «Сводка», the
chat summary): a label, how to read the value from `metrics.Figures`, and which way is better."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l

from .metrics import Figures


@dataclass(frozen=True)
class KeyFigure:
    key: str
    label: object                              # a lazy string: the viewer's language at render time
    value: Callable[[Figures], float | int | None]
    unit: str = ""                             # "%" values are shares 0..1, shown ×100
    better: int = 1                            # +1: more is better, -1: less is better, 0: neither


KEY_FIGURES: tuple[KeyFigure, ...] = (
    KeyFigure("incoming", _l("Входящие"), lambda f: f.incoming, better=0),
    KeyFigure("accepted", _l("Принятые"), lambda f: f.accepted),
    KeyFigure("missed", _l("Пропущенные"), lambda f: f.missed, better=-1),
    KeyFigure("missed_share", _l("Доля пропущенных, %"), lambda f: f.missed_share, "%", -1),
    KeyFigure("lost", _l("Потерянные"), lambda f: f.lost, better=-1),
    KeyFigure("lost_share", _l("Доля потерянных, %"), lambda f: f.lost_share, "%", -1),
    KeyFigure("recovered", _l("Перезвонили"), lambda f: f.recovered, better=0),  # follows the missed count
    KeyFigure("awaiting_callback", _l("Ждут перезвона"), lambda f: f.awaiting_callback, better=-1),
    KeyFigure("outgoing", _l("Исходящие"), lambda f: f.outgoing, better=0),
    KeyFigure("successful_incoming", _l("Успешные входящие"), lambda f: f.successful_incoming),
    KeyFigure("successful_outgoing", _l("Успешные исходящие"), lambda f: f.successful_outgoing),
    KeyFigure("talk_minutes", _l("Время разговоров, мин"), lambda f: f.talk_minutes, better=0),
    KeyFigure("aht", _l("Средняя длительность разговора, с"), lambda f: f.aht_seconds, better=0),
    KeyFigure("asa", _l("Среднее время ожидания, с"), lambda f: f.asa_seconds, better=-1),
    KeyFigure("service_level", _l("Уровень обслуживания, %"), lambda f: f.service_level, "%"),
    KeyFigure("csat", _l("CSAT, %"), lambda f: f.csat, "%"),
)
FIGURE = {k.key: k for k in KEY_FIGURES}
# Talk time for a page switched to hours (A8): the same figure, another unit.
TALK_HOURS = KeyFigure("talk_hours", _l("Время разговоров, ч"), lambda f: f.talk_minutes / 60, better=0)


@dataclass(frozen=True)
class Line:
    figure: KeyFigure
    now: float | int | None
    before: float | int | None

    @property
    def change(self) -> float | None:
        """Now minus before, in the figure's unit (percentage points for shares); None without both."""
        if self.now is None or self.before is None:
            return None
        scale = 100 if self.figure.unit == "%" else 1
        return (self.now - self.before) * scale

    @property
    def verdict(self) -> str:
        """"good", "bad" or "" for the way the figure moved."""
        c = self.change
        if not c or not self.figure.better:
            return ""
        return "good" if c * self.figure.better > 0 else "bad"


def lines(now: Figures, before: Figures) -> list[Line]:
    return [Line(k, k.value(now), k.value(before)) for k in KEY_FIGURES]


def display(value: float | int | None, unit: str = "", signed: bool = False) -> str | None:
    """A figure as the viewer reads it (12,5 in Russian, 12.5 in English; shares as percents);
    None stays None, for the page to say «нет данных»."""
    if value is None:
        return None
    if unit == "%" and not signed:
        value = value * 100
    text = format_decimal(value, format="#,##0" if isinstance(value, int) else "#,##0.0")
    return ("+" + text if value > 0 else text) if signed else text
