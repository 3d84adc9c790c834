"""A large, seeded CRM for the call-distribution work: deals in three funnels with 1–3 contacts each,
contacts with unique phones, companies; written straight into the store (no events), fast enough for
20 000 deals in well under a few seconds. Same seed and same starting store = the same data."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from .crm import DEAL_STAGES, CrmStore, phone_key
from .demodata import COMPANY_FORMS, COMPANY_WORDS, _person

EXTRA_CATEGORIES = (("Продажи", 200), ("Сервис", 300))
YEAR = 365 * 86400
OPEN_CODES = [code for code, _name, sem in DEAL_STAGES if not sem]


def _category(crm: CrmStore, name: str, sort: int) -> int:
    for cid, cat in crm.deal_categories.items():
        if cat["NAME"] == name:
            return cid
    return crm.add_deal_category(name, sort)


def _owners(state) -> tuple[list[int], list[int]]:
    """(active employees, fired employees) who may own CRM records: everyone but administrators."""
    users = [u for u in state.directory.all_users() if not u.admin]
    active = [u.id for u in users if u.active]
    fired = [u.id for u in users if not u.active]
    if not fired:  # the distribution tests need a dismissed manager who still owns deals
        user = state.directory.add_user("Сергей", "Волков", [3], active=False, gender="M", position="Оператор",
                                        phone_inner=str(100 + len(users) + 1))
        fired = [user.id]
    return active, fired


def seed(state, deals: int, contacts: int, companies: int, seed_value: int) -> dict[str, Any]:
    rng = random.Random(f"crm-distribution-{seed_value}")
    crm: CrmStore = state.crm
    tz = state.tz
    anchor = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    active, fired = _owners(state)

    def owner() -> int:
        return rng.choice(fired) if rng.random() < 0.06 else rng.choice(active)

    def moment(ts: float) -> str:
        return datetime.fromtimestamp(int(ts), tz).isoformat(timespec="seconds")

    with crm._lock:  # one pass under the store's lock: nothing reads a half-built table
        cats = {0: crm.deal_categories[0]["NAME"]}
        for name, sort in EXTRA_CATEGORIES:
            cats[_category(crm, name, sort)] = name
        cat_ids = sorted(cats)

        def add(kind: str, row: dict) -> int:
            new_id = crm._next[kind]
            crm._next[kind] = new_id + 1
            row["ID"] = str(new_id)
            crm.entities[kind][new_id] = row
            crm._ids[kind].append(new_id)
            return new_id

        def common(responsible: int, created: float, modified: float) -> dict:
            return {"ASSIGNED_BY_ID": str(responsible), "CREATED_BY_ID": "1", "MODIFY_BY_ID": str(responsible),
                    "DATE_CREATE": moment(created), "DATE_MODIFY": moment(modified), "OPENED": "Y",
                    "SOURCE_ID": "CALL", "COMMENTS": None}

        def dates() -> tuple[float, float]:
            created = anchor - rng.random() * YEAR
            return created, created + rng.random() * (anchor - created)

        company_ids: list[int] = []
        for _ in range(companies):
            created, modified = dates()
            title = f"{rng.choice(COMPANY_FORMS)} «{rng.choice(COMPANY_WORDS)}-{rng.randrange(1, 999)}»"
            row = {"ID": "", "TITLE": title, "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": None, "HAS_PHONE": "N",
                   "HAS_EMAIL": "N", **common(owner(), created, modified)}
            company_ids.append(add("COMPANY", row))

        contact_ids: list[int] = []
        prefix = 900 + seed_value % 90
        for _ in range(contacts):
            created, modified = dates()
            name, last, _gender = _person(rng)
            row = {"ID": "", "NAME": name, "SECOND_NAME": None, "LAST_NAME": last, "POST": None,
                   "TYPE_ID": "CLIENT", "COMPANY_ID": None, "HAS_PHONE": "Y", "HAS_EMAIL": "N",
                   **common(owner(), created, modified)}
            cid = add("CONTACT", row)
            # The contact's ID in the number keeps numbers unique; a clash with older data moves on.
            n = cid
            number = f"+7{prefix}{n:07d}"
            while phone_key(number) in crm._phones:
                n += 10_000_000 // 7
                number = f"+7{prefix}{n % 10_000_000:07d}"
            row["PHONE"] = [{"ID": str(1000 + cid * 10), "VALUE_TYPE": "WORK", "VALUE": number, "TYPE_ID": "PHONE"}]
            crm._phones[phone_key(number)] = ("CONTACT", cid)
            contact_ids.append(cid)

        # A tenth of the contacts stay out of every deal; the rest are drawn with a skew, so many
        # contacts sit in several deals (the "which deal wins" case).
        linked = contact_ids[: max(1, len(contact_ids) - len(contact_ids) // 10)] if contact_ids else []
        deal_ids: list[int] = []
        for _ in range(deals):
            created, modified = dates()
            cat = rng.choice(cat_ids) if rng.random() < 0.6 else 0
            closed = rng.random() < 0.2
            code = ("WON" if rng.random() < 0.5 else "LOSE") if closed else rng.choice(OPEN_CODES)
            stage = f"C{cat}:{code}" if cat else code
            responsible = owner()
            picked: list[int] = []
            if linked:
                for _ in range(rng.choice((1, 1, 2, 2, 3))):
                    c = linked[int(len(linked) * rng.random() ** 1.5)]
                    if c not in picked:
                        picked.append(c)
            row = {"ID": "", "TITLE": f"Сделка №{rng.randrange(1000, 99999)}", "TYPE_ID": "SALE",
                   "CATEGORY_ID": str(cat), "STAGE_ID": stage,
                   "STAGE_SEMANTIC_ID": "S" if code == "WON" else "F" if code == "LOSE" else "P",
                   "OPPORTUNITY": f"{rng.randrange(5, 2000) * 500}.00", "CURRENCY_ID": "RUB",
                   "CONTACT_ID": str(picked[0]) if picked else None,
                   "COMPANY_ID": str(rng.choice(company_ids)) if company_ids and rng.random() < 0.5 else None,
                   "BEGINDATE": moment(created), "CLOSEDATE": moment(modified) if closed else None,
                   "CLOSED": "Y" if closed else "N", "IS_NEW": "N", **common(responsible, created, modified)}
            did = add("DEAL", row)
            crm.deal_contacts[did] = picked
            deal_ids.append(did)

    def span(ids: list[int]) -> list[int]:
        return [ids[0], ids[-1]] if ids else []

    return {"deals": span(deal_ids), "contacts": span(contact_ids), "companies": span(company_ids),
            "categories": {str(k): v for k, v in sorted(cats.items())}}

