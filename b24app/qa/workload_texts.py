"""Texts of the reviewer's queue («Мои звонки на оценку») and of moving cards between reviewers."""

from __future__ import annotations

from flask_babel import lazy_gettext as _

from ..messages import register

register({
    "workload.bad_reviewer": _("Выберите контролёра из списка."),
    "workload.unknown_reviewer": _("Такого контролёра нет на портале: выберите контролёра из списка."),
    "workload.no_setup": _("Смарт-процесс оценки ещё не создан: переустановите приложение."),
    "workload.no_one_to_take": _("Передать карточки некому: нет других контролёров на месте. Назначьте роль «Контролёр качества» ещё кому-нибудь."),
    "workload.reassigned": _("Открытые карточки переданы другим контролёрам."),
    "workload.nothing_moved": _("Передавать нечего: у контролёра нет открытых карточек, которые можно передать (карточки с черновиком другого контролёра остаются у него)."),
    "workload.portal_unavailable": _("Портал не ответил: карточки не переданы. Попробуйте через минуту."),
})
