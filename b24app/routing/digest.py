"""One message per manager who received contacts in an alignment run («Вам передано N контактов»), never one
per contact, and never twice: the changes it covers are marked `notified` once it is sent."""

from __future__ import annotations

import logging

from flask_babel import force_locale, gettext
from sqlalchemy import func, select, update

from ..bitrix import errors as E
from ..extensions import db
from ..models_base import row_for_portal
from ..portals.models import Portal
from .models import ENTITY_CONTACT, AlignmentChange, RoutingSettings

log = logging.getLogger(__name__)
_CHANGES = AlignmentChange.__table__


def text(portal: Portal, n: int) -> str:
    head = gettext("Вам передано %(n)s контактов по правилам распределения звонков", n=n)
    link = f"[URL={portal.origin}/crm/contact/list/]{gettext('Открыть список контактов')}[/URL]"
    return f"{head}\n{link}"


def send(portal: Portal, run_id: int) -> int:
    """Tell each manager of the run's done contact changes not yet told; returns the messages sent."""
    settings = row_for_portal(RoutingSettings, portal.id)
    if not settings.notify:
        return 0
    mine = (_CHANGES.c.portal_id == portal.id, _CHANGES.c.run_id == run_id, _CHANGES.c.entity == ENTITY_CONTACT,
            _CHANGES.c.status == "done")
    owed = db.session.execute(select(_CHANGES.c.new_user_id, func.count()).where(
        *mine, _CHANGES.c.notified.is_(False)).group_by(_CHANGES.c.new_user_id)
        .order_by(_CHANGES.c.new_user_id)).all()
    db.session.commit()
    if not owed:
        return 0
    from ..portals.rest import client_for

    client = client_for(portal.member_id, max_attempts=3)
    sent = 0
    with force_locale(portal.language if portal.language in ("ru", "en") else "ru"):
        for user_id, n in owed:
            if int(user_id) <= 0:
                continue
            try:
                # The tag makes a message repeated after a crash replace the first rather than add a second.
                client.call("im.notify.system.add", {"USER_ID": int(user_id), "MESSAGE": text(portal, int(n)),
                                                     "TAG": f"cq_routing_run_{run_id}_{int(user_id)}"})
                sent += 1
            except E.BitrixError as exc:
                if isinstance(exc, E.TransientError):
                    raise  # the run's retry tells him later
                log.warning("portal=%s alignment run %s: manager %s not told (%s)", portal.id, run_id, user_id,
                            E.root_code(exc))
            db.session.execute(update(_CHANGES).where(*mine, _CHANGES.c.new_user_id == user_id)
                               .values(notified=True))
            db.session.commit()
    return sent
