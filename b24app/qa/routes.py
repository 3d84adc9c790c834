"""The QA card's detail tab (CRM_DYNAMIC_<id>_DETAIL_TAB): the scoring form comes with checklists."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from ..calls.models import Call
from ..extensions import db
from ..portals.frame import placement_view

bp = Blueprint("qa", __name__)


@bp.route("/b24/qa/card", methods=["GET", "POST"])
@placement_view(accept=(r"CRM_DYNAMIC_\d+_DETAIL_TAB",))
def card_tab():
    item_id = str((g.placement.options if g.get("placement") else {}).get("ID", ""))
    call = None
    if item_id.isdigit():
        call = db.session.scalar(select(Call).where(Call.portal_id == g.viewer.portal_id,
                                                    Call.qa_item_id == int(item_id)))
    details = []
    if call is not None:
        details = [(_("Телефон клиента"), call.phone_number), (_("Длительность разговора, с"), call.conversation),
                   (_("Дата звонка"), call.call_start_date.strftime("%d.%m.%Y %H:%M") if call.call_start_date else "")]
    return render_template("portals/placeholder.html", title=_("Оценка звонка"), details=details)
