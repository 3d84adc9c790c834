"""The routing answer for an external PBX (D3): whose client is calling, from the local index only.

The PBX authenticates with a key the admin generates once; only its SHA-256 is kept, so the lookup by
hash is the comparison (no timing of a string compare, and a leaked database does not leak the key).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import asdict, dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from ..analytics.metrics import phone_key
from ..extensions import db
from ..models_base import row_for_portal, utcnow
from ..portals.models import STATUS_ACTIVE, Portal, PortalUser
from .models import ContactOwner, ContactPhone, RoutingSettings

MIN_DIGITS, MAX_DIGITS = 5, 15   # E.164 has at most 15 digits; fewer than 5 is no caller's number
ALLOWED = frozenset("0123456789+-() .")

SOURCE_OWNER, SOURCE_FALLBACK_USER, SOURCE_FALLBACK_QUEUE, SOURCE_NONE = (
    "owner", "fallback_user", "fallback_queue", "none")


class BadNumber(ValueError):
    """The number is no phone number; its message is for the caller (Russian by default)."""


@dataclass(frozen=True)
class Answer:
    phone: str
    found: bool                 # some contact has this number
    source: str                 # owner | fallback_user | fallback_queue | none
    user_id: int | None = None
    name: str = ""
    extension: str = ""         # UF_PHONE_INNER of the user
    queue: str | None = None    # the fallback queue, when that is the answer
    contact_id: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key(portal_id: int) -> str:
    """A new random key for the portal's PBX, to be shown once; the previous key stops working."""
    key = secrets.token_urlsafe(32)
    settings = row_for_portal(RoutingSettings, portal_id)
    settings.pbx_key_hash = _hash(key)
    settings.pbx_key_created_at = utcnow()
    db.session.commit()
    return key


def portal_for_key(key: str | None) -> int | None:
    """The active portal whose PBX key this is; None for no key or a wrong one."""
    key = (key or "").strip()
    if not key or len(key) > 200:
        return None
    return db.session.scalar(
        select(RoutingSettings.portal_id).join(Portal, Portal.id == RoutingSettings.portal_id)
        .where(RoutingSettings.pbx_key_hash == _hash(key), Portal.status == STATUS_ACTIVE).limit(1))


def normalise(raw: str | None) -> str:
    """The caller's number as the index keeps numbers (digits, a Russian 8… as 7…), or BadNumber."""
    text = (raw or "").strip()
    if not text:
        raise BadNumber(_("Укажите номер телефона в параметре phone."))
    if any(ch not in ALLOWED for ch in text):
        raise BadNumber(_("Номер телефона может содержать только цифры, пробелы, «+», «-» и скобки."))
    digits = phone_key(text)
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise BadNumber(_("В номере телефона должно быть от %(min)s до %(max)s цифр.", min=MIN_DIGITS,
                          max=MAX_DIGITS))
    return digits


def _spellings(digits: str) -> list[str]:
    """The ways the same Russian number may be kept: with and without the country code."""
    out = [digits]
    if len(digits) == 11 and digits.startswith("7"):
        out.append(digits[1:])
    elif len(digits) == 10:
        out.append("7" + digits)
    return out


def lookup(portal_id: int, digits: str) -> Answer:
    """Who takes the call from `digits` (already normalised): the owner of the contact with this number
    when he may receive calls, else the fallback user, else the fallback queue, else nobody."""
    settings = db.session.scalar(select(RoutingSettings).where(RoutingSettings.portal_id == portal_id))
    owners = db.session.execute(
        select(ContactPhone.contact_id, ContactOwner.user_id)
        .join(ContactOwner, (ContactOwner.portal_id == ContactPhone.portal_id)
              & (ContactOwner.contact_id == ContactPhone.contact_id))
        .where(ContactPhone.portal_id == portal_id, ContactPhone.phone.in_(_spellings(digits)))
        .order_by(ContactPhone.contact_id).limit(20)).all()
    excluded = {int(u) for u in (settings.excluded_users if settings else None) or ()}
    fallback = int(settings.fallback_user_id or 0) if settings else 0
    wanted = {int(o.user_id) for o in owners if o.user_id} | ({fallback} if fallback else set())
    users = {u.user_id: u for u in db.session.scalars(
        select(PortalUser).where(PortalUser.portal_id == portal_id, PortalUser.user_id.in_(wanted)))} if wanted \
        else {}

    def receives(user_id: int) -> bool:
        user = users.get(user_id)
        return user_id > 0 and user_id not in excluded and (user is None or user.active)

    found = bool(owners)
    first_contact = int(owners[0].contact_id) if owners else None
    for o in owners:
        if receives(int(o.user_id or 0)):
            user = users.get(int(o.user_id))
            return Answer(digits, True, SOURCE_OWNER, int(o.user_id), user.name if user else "",
                          user.phone_inner if user else "", None, int(o.contact_id))
    if fallback and receives(fallback):
        user = users.get(fallback)
        return Answer(digits, found, SOURCE_FALLBACK_USER, fallback, user.name if user else "",
                      user.phone_inner if user else "", None, first_contact)
    queue = (settings.fallback_queue or "").strip() if settings else ""
    if queue:
        return Answer(digits, found, SOURCE_FALLBACK_QUEUE, None, "", "", queue, first_contact)
    return Answer(digits, found, SOURCE_NONE, None, "", "", None, first_contact)
