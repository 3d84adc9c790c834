"""What distribution reads from and writes to the portal's CRM: deals with their contacts, the responsibles of
contacts and companies, and the responsible changes, 50 to a batch request.

Deals are read in ID order with `start=-1` windows (`BitrixClient.export`, REST-FACTS §8.2): no count
query, resumable from the smallest ID not yet handed over. Everything goes through the portal's rate and
operating-time limits as the client keeps them, so a bulk run goes at the portal's full rate, never over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from ..analytics.metrics import phone_key
from ..bitrix import errors as E
from ..bitrix.client import BitrixClient
from .rules import Deal

DEAL_SELECT = ["ID", "ASSIGNED_BY_ID", "CATEGORY_ID", "STAGE_ID", "CLOSED", "DATE_MODIFY", "DATE_CREATE",
               "OPPORTUNITY", "COMPANY_ID"]
METHOD = {"contact": "crm.contact", "company": "crm.company"}


NOT_FOUND = ("NOT_FOUND", "ERROR_NOT_FOUND")


def not_found(err: BaseException) -> bool:
    """The portal says the entity does not exist (crm.*.get answers 400 with one of these codes, or an
    empty code and «Not found»)."""
    code = E.root_code(err)
    return code in NOT_FOUND or (not code and "not found" in str(getattr(err, "description", "")).lower())


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _moment(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _float(value) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def to_deal(row: Mapping, contact_ids: Iterable[int] = ()) -> Deal:
    """A crm.deal.list / crm.deal.get row (and its contacts) as rules.Deal."""
    return Deal(id=_int(row.get("ID")), assigned_by=_int(row.get("ASSIGNED_BY_ID")),
                category_id=_int(row.get("CATEGORY_ID")), stage_id=str(row.get("STAGE_ID") or ""),
                closed=str(row.get("CLOSED") or "N").upper() == "Y", modified=_moment(row.get("DATE_MODIFY")),
                created=_moment(row.get("DATE_CREATE")), opportunity=_float(row.get("OPPORTUNITY")),
                contact_ids=tuple(int(c) for c in contact_ids if _int(c) > 0), company_id=_int(row.get("COMPANY_ID")))


def deal_filter(categories: Iterable[int] = (), modified_since: str = "") -> dict:
    flt: dict = {}
    cats = sorted({int(c) for c in categories})
    if cats:
        flt["CATEGORY_ID"] = cats
    if modified_since:
        flt[">=DATE_MODIFY"] = modified_since
    return flt


def export_deals(client: BitrixClient, on_rows: Callable[[list[dict]], None], *, categories: Iterable[int] = (),
                 modified_since: str = "", resume_from: int | None = None,
                 on_progress: Callable[[int], None] | None = None) -> int:
    """Every deal of `categories` (all when empty; modified at or after `modified_since` when given), handed to
    `on_rows` in batches; see BitrixClient.export for resuming. Returns the rows read."""
    return client.export("crm.deal.list", {"filter": deal_filter(categories, modified_since), "select": DEAL_SELECT},
                         on_rows=on_rows, resume_from=resume_from, on_progress=on_progress)


def contacts_of(client: BitrixClient, deal_ids: Iterable[int]) -> dict[int, list[int]]:
    """Each deal's contact IDs (crm.deal.contact.items.get, 50 deals to a batch request); a deal the portal
    says does not exist is left out."""
    ids = [int(d) for d in deal_ids]
    out: dict[int, list[int]] = {}
    calls = [("crm.deal.contact.items.get", {"id": d}) for d in ids]
    for batch in client.iter_batches(calls):  # keys are c<index into calls>, across every batch
        for key, result in batch.results.items():
            out[ids[int(key[1:])]] = [_int(r.get("CONTACT_ID")) for r in (result or []) if isinstance(r, dict)
                            and _int(r.get("CONTACT_ID")) > 0]
        for err in batch.errors.values():
            if not not_found(err):
                raise err
    return out


def deal(client: BitrixClient, deal_id: int) -> Deal | None:
    """One deal with its contacts, as the portal has it now; None when it does not exist."""
    got = client.batch({"deal": ("crm.deal.get", {"id": int(deal_id)}),
                        "contacts": ("crm.deal.contact.items.get", {"id": int(deal_id)})})
    for err in got.errors.values():
        if not_found(err):
            return None
        raise err
    row = got.results.get("deal")
    if not isinstance(row, dict):
        return None
    contacts = [_int(r.get("CONTACT_ID")) for r in (got.results.get("contacts") or []) if isinstance(r, dict)]
    return to_deal(row, contacts)


def responsibles(client: BitrixClient, entity: str, ids: Iterable[int]) -> dict[int, int]:
    """ASSIGNED_BY_ID of each contact (or company) of `ids` that exists, 50 IDs to a list call, 50 calls to a
    batch request."""
    wanted = sorted({int(i) for i in ids})
    calls = [(f"{METHOD[entity]}.list", {"filter": {"ID": wanted[i:i + 50]}, "select": ["ID", "ASSIGNED_BY_ID"],
                                         "start": -1})
             for i in range(0, len(wanted), 50)]
    out: dict[int, int] = {}
    for batch in client.iter_batches(calls):
        batch.raise_first()
        for result in batch.results.values():
            for r in result or []:
                if isinstance(r, dict):
                    out[_int(r.get("ID"))] = _int(r.get("ASSIGNED_BY_ID"))
    return out


def owners(client: BitrixClient, ids: Iterable[int]) -> list[dict]:
    """Contacts of `ids` for the routing index: {"id", "user_id", "name", "phones": [digits…]}."""
    wanted = sorted({int(i) for i in ids})
    calls = [("crm.contact.list", {"filter": {"ID": wanted[i:i + 50]}, "start": -1,
                                   "select": ["ID", "ASSIGNED_BY_ID", "NAME", "LAST_NAME", "PHONE"]})
             for i in range(0, len(wanted), 50)]
    out = []
    for batch in client.iter_batches(calls):
        batch.raise_first()
        for result in batch.results.values():
            out.extend(contact_row(r) for r in result or [] if isinstance(r, dict))
    return out


def contact_row(r: Mapping) -> dict:
    phones = []
    for p in r.get("PHONE") or []:
        key = phone_key(str(p.get("VALUE") if isinstance(p, dict) else p))
        if key and key not in phones:
            phones.append(key)
    name = " ".join(str(x) for x in (r.get("NAME"), r.get("LAST_NAME")) if x)
    return {"id": _int(r.get("ID")), "user_id": _int(r.get("ASSIGNED_BY_ID")), "name": name[:255], "phones": phones}


def set_responsibles(client: BitrixClient, entity: str, changes: Iterable[tuple[int, int]]) -> dict[int, str]:
    """Set ASSIGNED_BY_ID of each (ID, user) with crm.<entity>.update, 50 to a batch request. Returns the
    errors by ID ("NOT_FOUND" for an entity deleted meanwhile); the rest were set. A passing error of a whole
    request is raised (the caller retries: setting the same value again is harmless)."""
    todo = [(int(i), int(u)) for i, u in changes]
    calls = [(f"{METHOD[entity]}.update", {"id": i, "fields": {"ASSIGNED_BY_ID": u}}) for i, u in todo]
    errors: dict[int, str] = {}
    for batch in client.iter_batches(calls):  # keys are c<index into calls>, across every batch
        for key, err in batch.errors.items():
            errors[todo[int(key[1:])][0]] = E.root_code(err) or "ERROR"
    return errors
