"""What the call popup shows about the other side: the client's local time (C9) and a CRM summary.

Plain functions. The local time comes from the phone number alone (no REST call, so the placement
page renders it at once); a CRM address city, when the summary brings one, can sharpen it. The CRM
summary is one `batch` with the app's tokens, kept a minute in a small in-process cache.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from babel import Locale
from babel.core import get_global
from babel.dates import get_timezone_location
from phonenumbers import timezone as pn_timezone

from ..bitrix import errors as E

# When a number maps to several zones (a Russian mobile is "anywhere in Russia"), the zone most of the
# country's people live in; otherwise the first one. Such a time is shown as approximate.
PREFERRED_ZONES = {
    "RU": "Europe/Moscow", "KZ": "Asia/Almaty", "US": "America/New_York", "CA": "America/Toronto",
    "BR": "America/Sao_Paulo", "AU": "Australia/Sydney", "MX": "America/Mexico_City", "ID": "Asia/Jakarta",
    "UA": "Europe/Kyiv", "CN": "Asia/Shanghai", "AR": "America/Argentina/Buenos_Aires", "CL": "America/Santiago",
}
# Cities of Russia and its neighbours that CLDR does not name as a zone's exemplar city.
EXTRA_CITIES = {
    "санкт-петербург": "Europe/Moscow", "петербург": "Europe/Moscow", "saint petersburg": "Europe/Moscow",
    "st. petersburg": "Europe/Moscow", "казань": "Europe/Moscow", "нижний новгород": "Europe/Moscow",
    "ростов-на-дону": "Europe/Moscow", "краснодар": "Europe/Moscow", "воронеж": "Europe/Moscow",
    "ярославль": "Europe/Moscow", "тула": "Europe/Moscow", "сочи": "Europe/Moscow", "ставрополь": "Europe/Moscow",
    "уфа": "Asia/Yekaterinburg", "челябинск": "Asia/Yekaterinburg", "пермь": "Asia/Yekaterinburg",
    "тюмень": "Asia/Yekaterinburg", "оренбург": "Asia/Yekaterinburg", "курган": "Asia/Yekaterinburg",
    "тольятти": "Europe/Samara", "ижевск": "Europe/Samara", "тверь": "Europe/Moscow", "самара": "Europe/Samara",
    "томск": "Asia/Tomsk", "кемерово": "Asia/Novokuznetsk", "хабаровск": "Asia/Vladivostok",
    "улан-удэ": "Asia/Irkutsk", "мурманск": "Europe/Moscow", "архангельск": "Europe/Moscow",
    "алматы": "Asia/Almaty", "астана": "Asia/Almaty", "ташкент": "Asia/Tashkent", "бишкек": "Asia/Bishkek",
}
CITY_FIELDS = ("ADDRESS_CITY", "REG_ADDRESS_CITY")
SUMMARY_TTL = 60.0            # s a client summary is reused
SUMMARY_MAX = 2000            # entries kept


# --- local time ----------------------------------------------------------------------------------------

def _parse(phone: str) -> phonenumbers.PhoneNumber | None:
    raw = (phone or "").strip()
    digits = "".join(c for c in raw if c.isdigit())
    if len(digits) < 5 or raw.lower() in ("hidden", "unknown"):
        return None
    candidates = []
    if raw.startswith("+"):
        candidates.append(("+" + digits, None))
    elif len(digits) == 11 and digits.startswith("8"):  # a Russian number dialled the domestic way
        candidates.append((digits, "RU"))
    else:  # Bitrix24 often stores international numbers without the plus
        candidates += [("+" + digits, None), (digits, "RU")]
    for text, region in candidates:
        try:
            num = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(num):
            return num
    return None


@lru_cache(maxsize=8192)
def zone_for_phone(phone: str) -> tuple[str, bool] | None:
    """(IANA zone, approximate?) for a phone number, or None when the number says nothing useful."""
    num = _parse(phone)
    if num is None:
        return None
    zones = [z for z in pn_timezone.time_zones_for_number(num) if z != pn_timezone.UNKNOWN_TIMEZONE]
    if not zones:
        return None
    if len(zones) == 1:
        return zones[0], False
    region = phonenumbers.region_code_for_number(num)
    preferred = PREFERRED_ZONES.get(region or "")
    return (preferred if preferred in zones else zones[0]), True


@lru_cache(maxsize=4)
def _city_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for lang in ("en", "ru"):
        for zone, names in Locale.parse(lang).time_zones.items():
            city = names.get("city")
            if city and "/" in zone and not zone.startswith("Etc/"):
                index.setdefault(city.lower(), zone)
    for zone in get_global("zone_territories"):
        if "/" in zone and not zone.startswith("Etc/"):
            index.setdefault(zone.rsplit("/", 1)[-1].replace("_", " ").lower(), zone)
    index.update(EXTRA_CITIES)
    return index


def zone_for_city(city: str | None) -> str | None:
    name = " ".join((city or "").replace("г.", " ").split()).strip(" ,.").lower()
    return _city_index().get(name) if name else None


@lru_cache(maxsize=512)
def _city_name(zone: str, lang: str) -> str:
    try:
        return get_timezone_location(zone, locale=lang, return_city=True)
    except (LookupError, ValueError):
        return zone.rsplit("/", 1)[-1].replace("_", " ")


@lru_cache(maxsize=512)
def _zoneinfo(zone: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_time(zone: str, lang: str, approximate: bool = False, source: str = "phone",
               now: datetime | None = None) -> dict | None:
    """What the card shows: the time there now, the zone's city, and whether it is a guess."""
    tz = _zoneinfo(zone)
    if tz is None:
        return None
    here = (now or datetime.now(tz)).astimezone(tz)
    offset = here.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return {"zone": zone, "city": _city_name(zone, lang if lang in ("ru", "en") else "ru"),
            "time": here.strftime("%H:%M"), "utc_offset": minutes, "approximate": approximate, "source": source}


def local_time_for_phone(phone: str, lang: str, now: datetime | None = None) -> dict | None:
    found = zone_for_phone((phone or "").strip())
    return local_time(found[0], lang, found[1], "phone", now) if found else None


def warm_up() -> None:
    """Load the phone metadata and zone names now rather than in the first popup's request."""
    zone_for_phone("+74950000000")
    zone_for_phone("+79990000000")
    _city_index()
    _city_name("Europe/Moscow", "ru")
    _city_name("Europe/Moscow", "en")


# --- CRM summary ------------------------------------------------------------------------------------------

KINDS = ("CONTACT", "COMPANY", "LEAD", "DEAL")


class ClientUnavailable(Exception):
    """The portal did not answer the summary's REST calls."""


class _TtlCache:
    def __init__(self, ttl: float, max_items: int):
        self.ttl, self.max_items = ttl, max_items
        self._items: OrderedDict[tuple, tuple[float, dict]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: tuple, value: dict) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


summary_cache = _TtlCache(SUMMARY_TTL, SUMMARY_MAX)


def _id(value) -> int:
    try:
        return int(str(value or "0").strip() or 0)
    except ValueError:
        return 0


def pick_entity(options: dict) -> tuple[str, int, int]:
    """(kind, id, bound deal id) from CALL_CARD options: the card's entity, else the first binding."""
    kind = str(options.get("CRM_ENTITY_TYPE") or "").upper()
    entity_id = _id(options.get("CRM_ENTITY_ID"))
    bindings = options.get("CRM_BINDINGS") if isinstance(options.get("CRM_BINDINGS"), list) else []
    pairs = [(str(b.get("ENTITY_TYPE") or "").upper(), _id(b.get("ENTITY_ID"))) for b in bindings
             if isinstance(b, dict)]
    pairs = [(k, i) for k, i in pairs if k in KINDS and i > 0]
    if kind not in KINDS or entity_id <= 0:
        rank = {"CONTACT": 0, "COMPANY": 1, "LEAD": 2, "DEAL": 3}
        kind, entity_id = min(pairs, key=lambda p: rank[p[0]]) if pairs else ("", 0)
    deal = next((i for k, i in pairs if k == "DEAL"), 0) if kind != "DEAL" else 0
    return kind, entity_id, deal


def _person(row: dict | None) -> str:
    if not isinstance(row, dict):
        return ""
    return " ".join(p for p in (row.get("NAME"), row.get("SECOND_NAME"), row.get("LAST_NAME")) if p).strip()


def _city(*rows) -> str:
    for row in rows:
        if isinstance(row, dict):
            for f in CITY_FIELDS:
                if row.get(f):
                    return str(row[f]).strip()
    return ""


def find_by_phone(client, phone: str) -> tuple[str, int]:
    """CONTACT, COMPANY or LEAD with this number (crm.duplicate.findbycomm), contacts first."""
    res = client.call("crm.duplicate.findbycomm", {"type": "PHONE", "values": [phone]}).result
    if not isinstance(res, dict):
        return "", 0
    for kind in ("CONTACT", "COMPANY", "LEAD"):
        ids = res.get(kind) or []
        if isinstance(ids, dict):
            ids = list(ids.values())
        if ids:
            return kind, _id(ids[0])
    return "", 0


def _load(client, kind: str, entity_id: int, deal_id: int) -> dict:
    name = kind.lower()
    cmds: dict[str, tuple[str, dict]] = {"e": (f"crm.{name}.get", {"id": entity_id}),
                                         "u": ("user.get", {"ID": "$result[e][ASSIGNED_BY_ID]"})}
    if kind in ("CONTACT", "LEAD", "DEAL"):
        cmds["co"] = ("crm.company.get", {"id": "$result[e][COMPANY_ID]"})
    if kind == "DEAL":
        cmds["c"] = ("crm.contact.get", {"id": "$result[e][CONTACT_ID]"})
    if deal_id:
        cmds["d"] = ("crm.deal.get", {"id": deal_id})
    res = client.batch(cmds)
    return res.results


def client_summary(member_id: str, portal_key: int, options: dict, lang: str, *, client=None) -> dict:
    """A short description of the caller for the popup. Raises ClientUnavailable if the portal fails."""
    kind, entity_id, deal_id = pick_entity(options)
    phone = str(options.get("PHONE_NUMBER") or "").strip()
    key = (member_id, portal_key, kind, entity_id, deal_id, phone if not entity_id else "")
    cached = summary_cache.get(key)
    if cached is not None:
        return _with_time(cached, lang)
    if client is None:
        from ..portals.rest import client_for

        client = client_for(member_id, max_attempts=2, max_limit_waits=2, timeout=10.0)
    try:
        if not entity_id and phone and phone.lower() not in ("hidden", "unknown"):
            kind, entity_id = find_by_phone(client, phone)
        if not entity_id:
            out = {"found": False}
            summary_cache.put(key, out)
            return out
        got = _load(client, kind, entity_id, deal_id)
    except E.BitrixError as exc:
        raise ClientUnavailable(str(exc)) from exc
    row = got.get("e")
    if not isinstance(row, dict):
        out = {"found": False}
        summary_cache.put(key, out)
        return out
    company_row = got.get("co") if isinstance(got.get("co"), dict) else None
    contact_row = got.get("c") if isinstance(got.get("c"), dict) else None
    deal_row = got.get("d") if isinstance(got.get("d"), dict) else (row if kind == "DEAL" else None)
    if kind == "COMPANY":
        name, company = str(row.get("TITLE") or ""), ""
    elif kind == "DEAL":
        name = _person(contact_row) or str((company_row or {}).get("TITLE") or "")
        company = str((company_row or {}).get("TITLE") or "") if contact_row else ""
    else:
        name = _person(row) or str(row.get("TITLE") or "")
        company = str((company_row or {}).get("TITLE") or row.get("COMPANY_TITLE") or "")
    users = got.get("u")
    user = users[0] if isinstance(users, list) and users else users if isinstance(users, dict) else None
    responsible = ""
    if isinstance(user, dict) and str(user.get("ID")) == str(row.get("ASSIGNED_BY_ID")):
        responsible = _person(user) or str(user.get("EMAIL") or "")
    city = _city(row, contact_row, company_row)
    out = {"found": True, "kind": kind, "id": entity_id, "name": name or f"#{entity_id}", "company": company,
           "deal": str((deal_row or {}).get("TITLE") or "") if deal_row is not None else "",
           "responsible": responsible, "city": city,
           "path": f"/crm/{kind.lower()}/details/{entity_id}/", "address_zone": zone_for_city(city)}
    summary_cache.put(key, out)
    return _with_time(out, lang)


def _with_time(summary: dict, lang: str) -> dict:
    """The cached summary plus the local time by the CRM address, computed now (the cache outlives a minute)."""
    out = dict(summary)
    zone = out.pop("address_zone", None)
    if zone:
        out["local_time"] = local_time(zone, lang, False, "address")
    return out
