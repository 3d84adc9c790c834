"""A demo portal from a seed: departments and people, two telephony lines plus a PBX line, clients
(contacts, companies, leads) with deals in two pipelines, short WAV recordings in Disk, and a call
history over the last `calls_days` days with working-hours patterns, written straight into the call
store with the same pre-serialised row form calldata uses, and CRM call activities for client calls.

Stored statistics rows carry one extra tuple slot, RING_WAIT (seconds from ring to answer or hang-up),
that voximplant.statistic.get never prints: `ring_wait(state, row_id)` reads it."""

from __future__ import annotations

import bisect
import gc
import io
import math
import random
import struct
import time
import wave
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii as q
from typing import Any

from .calldata import FAILED_REASONS, ID, hkey, until_timestamp
from .directory import Department, User, seed_departments, seed_users
from .envelope import Raw
from .lines import DEFAULT_LINES

RING_WAIT = 10  # extra slot of a demo statistics row
REST_LINE = {"number": "+74957654321", "name": "Офисная АТС (интеграция)"}
REST_APP = ("1", "Локальное приложение")
RECORDINGS = 24
DEAL_DAYS = 180  # deals were created over the last half year (the plan vs fact of the analytics)
# Russian public holidays (month, day) the portal is almost silent on.
HOLIDAYS = {(1, d) for d in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)}
# Weekday call share per local hour (0..23): office hours 9–19, a thin tail after hours.
WEEKDAY_HOURS = (0, 0, 0, 0, 0, 0, 0, 0.02, 0.15, 0.8, 1.2, 1.3, 1.1, 0.9, 1.1, 1.2, 1.1, 0.9, 0.6, 0.12, 0.05,
                 0.02, 0.01, 0)
WEEKEND_HOURS = tuple(0.2 if 10 <= h < 18 else 0 for h in range(24))

MALE = ("Александр", "Дмитрий", "Максим", "Сергей", "Андрей", "Алексей", "Артём", "Илья", "Кирилл", "Михаил",
        "Никита", "Матвей", "Роман", "Егор", "Арсений", "Иван", "Денис", "Евгений", "Тимофей", "Владимир",
        "Павел", "Олег", "Виктор", "Юрий", "Григорий", "Степан", "Константин", "Николай")
FEMALE = ("Анна", "Мария", "Елена", "Дарья", "Алина", "Ирина", "Екатерина", "Арина", "Полина", "Ольга", "Юлия",
          "Татьяна", "Наталья", "Виктория", "Елизавета", "Анастасия", "Валерия", "Ксения", "Светлана", "Марина",
          "Людмила", "Вероника", "Софья", "Алёна")
SURNAMES = ("Иванов", "Смирнов", "Кузнецов", "Попов", "Васильев", "Петров", "Соколов", "Михайлов", "Новиков",
            "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов",
            "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв",
            "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв", "Сергеев", "Кузьмин", "Фролов", "Александров",
            "Дмитриев", "Королёв", "Гусев", "Киселёв", "Ильин", "Максимов", "Поляков", "Сорокин", "Виноградов",
            "Ковалёв", "Белов", "Медведев", "Антонов", "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров")
COMPANY_WORDS = ("Альфа", "Вектор", "Гранит", "Меридиан", "Север", "Восток", "Технопром", "Стройресурс", "Логистик",
                 "Агроторг", "Медиана", "Фаворит", "Квант", "Орион", "Прогресс", "Сигма", "Эталон", "Юнити",
                 "Атлант", "Бриз", "Горизонт", "Движение", "Интех", "Капитал", "Лидер", "Магистраль", "Нева")
COMPANY_FORMS = ("ООО", "ООО", "ООО", "АО", "ИП", "ПАО")
SALES, CALL_CENTRE, SUPPORT, QA = 2, 3, 5, 6


def _last(surname: str, female: bool) -> str:
    if not female:
        return surname
    return surname[:-2] + "ая" if surname.endswith("ий") else surname + "а"


def _person(rng: random.Random) -> tuple[str, str, str]:
    female = rng.random() < 0.5
    return (rng.choice(FEMALE if female else MALE), _last(rng.choice(SURNAMES), female), "F" if female else "M")


# --- people ---------------------------------------------------------------------------------------------

def _people(state, rng: random.Random) -> dict[int, list[int]]:
    departments = {d.id: d for d in seed_departments()}
    departments[1].head = 10
    departments[5] = Department(5, "Служба поддержки", parent=1, head=None)
    departments[6] = Department(6, "Отдел контроля качества", parent=1, head=11)
    users = {u.id: u for u in seed_users()}
    users[10] = User(10, "Андрей", "Орлов", [1], gender="M", position="Генеральный директор",
                     email="a.orlov@vector.example", phone_inner="110")
    users[11] = User(11, "Ирина", "Лебедева", [6], gender="F", position="Специалист по контролю качества (QA)",
                     email="i.lebedeva@vector.example", phone_inner="111")
    users[12] = User(12, "Павел", "Новиков", [6], gender="M", position="Специалист по контролю качества (QA)",
                     email="p.novikov@vector.example", phone_inner="112")
    plan = [SALES] * 8 + [CALL_CENTRE] * 8 + [SUPPORT] * 5
    positions = {SALES: "Менеджер по продажам", CALL_CENTRE: "Оператор колл-центра",
                 SUPPORT: "Специалист техподдержки"}
    taken = {(u.name, u.last_name) for u in users.values()}
    for i, dept in enumerate(plan):
        while True:
            name, last, gender = _person(rng)
            if (name, last) not in taken:
                taken.add((name, last))
                break
        uid = 13 + i
        users[uid] = User(uid, name, last, [dept], gender=gender, position=positions[dept],
                          email=f"user{uid}@vector.example", phone_inner=str(100 + uid),
                          calls_weight=round(0.6 + rng.random() * 0.9, 2),
                          tz_minutes=state.settings.tz_offset_minutes)
    departments[5].head = 13 + 16
    directory = state.directory
    with directory._lock:
        directory.departments = departments
        directory.users = users
    teams: dict[int, list[int]] = {SALES: [], CALL_CENTRE: [], SUPPORT: []}
    for u in users.values():
        if u.calls_weight > 0 and u.active and u.departments[0] in teams:
            teams[u.departments[0]].append(u.id)
    return teams


# --- CRM --------------------------------------------------------------------------------------------

def _phone(rng: random.Random, used: set[str], mobile: bool = True) -> str:
    while True:
        number = f"+79{rng.randrange(10 ** 9):09d}" if mobile else f"+7495{rng.randrange(10 ** 7):07d}"
        if number not in used:
            used.add(number)
            return number


def _crm(state, rng: random.Random, calls: int, teams: dict[int, list[int]], until: float, days: int) -> dict:
    crm = state.crm
    crm.reset()
    cat = crm.add_deal_category("Повторные продажи", 200)
    sales = teams[SALES]
    used: set[str] = set()
    created = datetime.fromtimestamp(until - (days + 200) * 86400, state.tz).isoformat(timespec="seconds")
    # Deals handed to another manager while the contact stayed with the first: what call distribution
    # («Распределение звонков») finds and fixes. A generator of its own keeps the rest of the demo as it was.
    handed = random.Random(calls * 31 + days)
    n_contacts = max(120, calls // 40)
    n_companies = max(25, n_contacts // 5)
    n_leads = max(20, n_contacts // 8)
    clients: list[tuple[str, int, str, str, int]] = []  # (kind, id, phone, name, responsible)
    deals = 0
    for _ in range(n_companies):
        title = f"{rng.choice(COMPANY_FORMS)} «{rng.choice(COMPANY_WORDS)}{rng.choice(('', '-Сервис', '-Трейд', ' Групп', 'Строй'))}»"
        phone = _phone(rng, used, mobile=False)
        owner = rng.choice(sales)
        cid = crm.add_entity("COMPANY", {"TITLE": title, "ASSIGNED_BY_ID": owner, "DATE_CREATE": created,
                                         "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}, 1)
        clients.append(("COMPANY", cid, phone, title, owner))
    companies = [c[1] for c in clients]
    for _ in range(n_contacts):
        name, last, _gender = _person(rng)
        phone = _phone(rng, used)
        owner = rng.choice(sales)
        fields: dict[str, Any] = {"NAME": name, "LAST_NAME": last, "ASSIGNED_BY_ID": owner, "DATE_CREATE": created,
                                  "PHONE": [{"VALUE": phone, "VALUE_TYPE": "MOBILE"}], "SOURCE_ID": "CALL"}
        if rng.random() < 0.3:
            fields["COMPANY_ID"] = rng.choice(companies)
        cid = crm.add_entity("CONTACT", fields, 1)
        clients.append(("CONTACT", cid, phone, f"{name} {last}", owner))
        if rng.random() < 0.45:
            for _ in range(1 + (rng.random() < 0.3)):
                category = cat if rng.random() < 0.35 else 0
                stage = rng.choice(("NEW", "PREPARATION", "EXECUTING", "WON", "LOSE"))
                deals += 1
                crm.add_entity("DEAL", {"TITLE": f"Сделка с {name} {last}", "CATEGORY_ID": category,
                                        "STAGE_ID": f"C{category}:{stage}" if category else stage,
                                        "CONTACT_ID": cid, "COMPANY_ID": fields.get("COMPANY_ID"),
                                        "ASSIGNED_BY_ID": handed.choice(sales) if handed.random() < 0.3 else owner,
                                        "DATE_CREATE": _deal_created(state, until, deals),
                                        "OPPORTUNITY": f"{rng.randrange(10, 900) * 1000}.00"}, owner)
    for _ in range(n_leads):
        name, last, _gender = _person(rng)
        phone = _phone(rng, used)
        owner = rng.choice(sales)
        lid = crm.add_entity("LEAD", {"TITLE": f"Лид: {name} {last}", "NAME": name, "LAST_NAME": last,
                                      "ASSIGNED_BY_ID": owner, "DATE_CREATE": created, "SOURCE_ID": "CALL",
                                      "PHONE": [{"VALUE": phone, "VALUE_TYPE": "MOBILE"}]}, 1)
        clients.append(("LEAD", lid, phone, f"{name} {last}", owner))
    return {"clients": clients, "used": used, "contacts": n_contacts, "companies": n_companies, "leads": n_leads}


def _deal_created(state, until: float, n: int) -> str:
    """The n-th deal's creation: spread over the last DEAL_DAYS days in working hours, without drawing from
    the seed's generator (the call history after it stays the same)."""
    day = datetime.fromtimestamp(until, state.tz).date() - timedelta(days=1 + (n * 37) % DEAL_DAYS)
    minute = 9 * 60 + (n * 53) % (9 * 60)
    moment = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=state.tz)
    return moment.isoformat(timespec="seconds")


# --- recordings -------------------------------------------------------------------------------------------

def _wav(rng: random.Random, seconds: float) -> bytes:
    rate = 8000
    n = int(rate * seconds)
    f1, f2 = 180 + rng.random() * 120, 400 + rng.random() * 300
    samples = bytearray(n)
    for i in range(n):
        t = i / rate
        env = 0.5 + 0.5 * math.sin(2 * math.pi * 3 * t)
        v = env * (0.5 * math.sin(2 * math.pi * f1 * t) + 0.3 * math.sin(2 * math.pi * f2 * t))
        samples[i] = max(0, min(255, int(128 + 100 * v + rng.randint(-6, 6))))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(rate)
        w.writeframes(bytes(samples))
    return buf.getvalue()


def _recordings(state, rng: random.Random, until: float) -> list[int]:
    disk = state.disk
    disk.reset()
    for user in state.directory.all_users():
        disk.user_storage(user.id, f"{user.name} {user.last_name}")
    folder = disk.ensure_folder(disk.common_root(), "Записи звонков")["ID"]
    ids = []
    for i in range(RECORDINGS):
        content = _wav(rng, 0.6 + rng.random() * 0.9)
        row = disk.add_file(folder, f"record-{i + 1:02d}.wav", content, 1, created=until - 91 * 86400)
        ids.append(int(row["ID"]))
    assert struct  # (kept for symmetry with the WAV writer's imports)
    return ids


# --- calls -------------------------------------------------------------------------------------------------

def generate(state, seed: int, calls: int) -> dict[str, Any]:
    """Fill the portal's stores from `seed`; `calls` statistics rows over the configured days."""
    started = time.time()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        summary = _generate(state, seed, max(0, int(calls)))
    finally:
        if was_enabled:
            gc.enable()
    summary["seconds"] = round(time.time() - started, 3)
    return summary


def _generate(state, seed: int, n: int) -> dict[str, Any]:
    s = state.settings
    tz = state.tz
    rng = random.Random(seed)
    rand, lognorm = rng.random, rng.lognormvariate
    until = until_timestamp(s.calls_until, tz)
    days = s.calls_days
    teams = _people(state, rng)
    state.lines.set_lines(list(DEFAULT_LINES))
    state.lines.add_external(REST_LINE["number"], REST_LINE["name"])
    crm_info = _crm(state, rng, n, teams, until, days)
    records = _recordings(state, rng, until)
    clients = crm_info["clients"]
    used_phones = crm_info["used"]
    users = {u.id: u for u in state.directory.all_users()}
    queue = teams[CALL_CENTRE] + teams[SUPPORT]
    queue_w = [users[u].calls_weight for u in queue]
    queue_cum = [sum(queue_w[:i + 1]) for i in range(len(queue_w))]
    sales = teams[SALES]

    first_day = datetime.fromtimestamp(until - days * 86400, tz).replace(hour=0, minute=0, second=0, microsecond=0)
    slot_start, slot_cum, acc = [], [], 0.0
    for d in range(days + 1):
        day = first_day + timedelta(days=d)
        if (day.month, day.day) in HOLIDAYS:
            factor, hours = 0.012, WEEKEND_HOURS
        elif day.weekday() == 5:
            factor, hours = 0.35, WEEKEND_HOURS
        elif day.weekday() == 6:
            factor, hours = 0.15, WEEKEND_HOURS
        else:
            factor, hours = 1.0, WEEKDAY_HOURS
        base = day.timestamp()
        for h, w in enumerate(hours):
            if w * factor > 0 and base + h * 3600 < until - 60:
                acc += w * factor
                slot_start.append(base + h * 3600)
                slot_cum.append(acc)

    # (end, start, user, type, code, duration, phone, client index or -1, ring, line)
    raw: list[tuple] = []
    n_clients = len(clients)
    while len(raw) < n and slot_cum:
        start = slot_start[bisect.bisect_left(slot_cum, rand() * acc)] + int(rand() * 3600)
        if start > until - 30:
            continue
        u = rand()
        call_type = 2 if u < 0.55 else 3 if u < 0.57 else 4 if u < 0.60 else 1
        r = rand()
        if r < 0.86:
            ci = int(rand() * n_clients)
            phone, owner = clients[ci][2], clients[ci][4]
        else:
            ci, owner = -1, 0
            phone = f"+79{int(rand() * 10 ** 9):09d}"
        incoming = call_type in (2, 3)
        if incoming:
            op = owner if owner and rand() < 0.5 else queue[bisect.bisect_left(queue_cum, rand() * queue_cum[-1])]
        else:
            op = owner if owner and rand() < 0.75 else sales[int(rand() * len(sales))]
        line = 2 if rand() < 0.2 else (0 if op in sales else 1)
        if incoming and rand() < 0.085:
            code, duration, ring = "304", 0, 15 + int(rand() * 30)
            raw.append((start + ring, start, op, call_type, code, 0, phone, ci, ring, line))
            if rand() < 0.55 and len(raw) < n:  # called back within hours
                back = start + 600 + int(rand() * 4 * 3600)
                if back < until - 30:
                    ok = rand() < 0.8
                    d2 = min(1200, max(3, int(lognorm(3.9, 1.05)))) if ok else 0
                    ring2 = 4 + int(rand() * 20)
                    raw.append((back + ring2 + d2, back, op, 1, "200" if ok else "486", d2, phone, ci, ring2, line))
            continue
        if not incoming and rand() < 0.12:
            code = ("486", "486", "480", "603", "404", "603-S")[int(rand() * 6)]
            ring = int(rand() * 30)
            raw.append((start + ring, start, op, call_type, code, 0, phone, ci, ring, line))
            continue
        duration = min(1200, max(3, int(lognorm(3.9, 1.05))))
        ring = min(60, max(1, int(lognorm(1.9, 0.5)))) if incoming else 4 + int(rand() * 20)
        raw.append((start + ring + duration, start, op, call_type, "200", duration, phone, ci, ring, line))
    raw.sort(key=lambda c: (c[0], c[1]))

    lines = state.lines.all()
    line_ids = [q(lines[0]["id"]), q(lines[1]["id"]), q(REST_LINE["number"])]
    rec_urls = {fid: q(state.disk.download_url(fid)) for fid in records}
    app_id, app_name = q(REST_APP[0]), q(REST_APP[1])
    reasons = {code: q(text) for code, text in FAILED_REASONS.items()}
    entity_q = {"CONTACT": '"CONTACT"', "COMPANY": '"COMPANY"', "LEAD": '"LEAD"'}
    owner_type = {"LEAD": 1, "CONTACT": 3, "COMPANY": 4}
    offset = int(tz.utcoffset(None).total_seconds())
    zone = f"{'+' if offset >= 0 else '-'}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    day_text: dict[int, str] = {}
    first_act = state.crm.reserve_activity_ids(0)
    acts: list[tuple] = []
    rows: list[tuple] = []
    row_id = 0
    vote_cum = (0.05, 0.12, 0.27, 0.57, 1.0)
    missed_in = incoming_total = 0
    for end, start, op, call_type, code, duration, phone, ci, ring, line in raw:
        row_id += 2 if rand() < 0.01 else 1
        ts = int(start)
        day_no, sec = divmod(ts + offset, 86400)
        ymd = day_text.get(day_no)
        if ymd is None:
            ymd = day_text[day_no] = time.strftime("%Y-%m-%d", time.gmtime(day_no * 86400))
        date = f"{ymd}T{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}{zone}"
        answered = code == "200"
        incoming = call_type in (2, 3)
        if incoming:
            incoming_total += 1
            missed_in += code == "304"
        if line == 2:
            call_id = f"externalCall.{rng.getrandbits(128):032x}.{ts}"
            session, log, cost, currency, rid, rname = "null", "null", "0.0000", "", app_id, app_name
        else:
            sid = 3800000000 + int(rand() * 10 ** 8)
            session = f'"{sid}"'
            call_id = f"{rng.getrandbits(64):016X}.{ts}.{int(rand() * 10 ** 8)}"
            log = f'"https://storage-gw-ru-01.voximplant.com/voximplant-logs/{ymd.replace("-", "/")}/{sid:x}.log"'
            cost = f"{duration / 60 * 1.45:.4f}" if answered and not incoming else "0.0000"
            currency, rid, rname = "RUR", "null", "null"
        vote = "null"
        vote_n = 0
        if answered and incoming and rand() < 0.3:
            x = rand()
            vote_n = next(i + 1 for i, c in enumerate(vote_cum) if x <= c)
            vote = f'"{vote_n}"'
        file_id = 0
        if answered and duration >= 3 and rand() < 0.92:
            file_id = records[int(rand() * RECORDINGS)]
        if ci >= 0:
            kind, cid, _p, cname, _o = clients[ci]
            act_id = first_act + len(acts)
            direction = 1 if incoming else 2
            subject = ("Пропущенный звонок " if code == "304" else "Входящий звонок " if incoming
                       else "Исходящий звонок ") + cname
            acts.append((act_id, owner_type[kind], cid, op, direction, float(ts), float(end), call_id, phone,
                         code == "304", vote_n, file_id, subject))
            entity, entity_id, activity = entity_q[kind], f'"{cid}"', f'"{act_id}"'
        else:
            entity = entity_id = activity = "null"
        text = (
            f'{{"ID":"{row_id}","PORTAL_USER_ID":"{op}","PORTAL_NUMBER":{line_ids[line]},"PHONE_NUMBER":"{phone}",'
            f'"CALL_ID":"{call_id}","EXTERNAL_CALL_ID":null,"CALL_CATEGORY":"external","CALL_LOG":{log},'
            f'"CALL_DURATION":"{duration}","CALL_START_DATE":"{date}",'
            f'"CALL_RECORD_URL":{rec_urls[file_id] if file_id else "null"},"CALL_VOTE":{vote},"COST":"{cost}",'
            f'"COST_CURRENCY":"{currency}","CALL_FAILED_CODE":"{code}","CALL_FAILED_REASON":{reasons[code]},'
            f'"CRM_ENTITY_TYPE":{entity},"CRM_ENTITY_ID":{entity_id},"CRM_ACTIVITY_ID":{activity},'
            f'"REST_APP_ID":{rid},"REST_APP_NAME":{rname},"TRANSCRIPT_ID":null,"TRANSCRIPT_PENDING":"N",'
            f'"SESSION_ID":{session},"REDIAL_ATTEMPT":{"1" if call_type == 4 else "null"},"COMMENT":null,'
            f'"RECORD_DURATION":{f"{chr(34)}{duration}{chr(34)}" if file_id else "null"},'
            f'"RECORD_FILE_ID":{file_id or "null"},"CALL_TYPE":"{call_type}"}}'
        )
        rows.append((row_id, float(ts), call_type, op, code, duration, phone, call_id, hkey(row_id, seed),
                     Raw(text), ring))
    state.crm.add_compact_activities(acts)
    state.calls.replace(rows)
    _ = used_phones
    return {"seed": seed, "calls": len(rows), "users": len(users), "contacts": crm_info["contacts"],
            "companies": crm_info["companies"], "leads": crm_info["leads"],
            "deals": len(state.crm.entity_rows("DEAL")), "activities": len(acts), "recordings": len(records),
            "lines": len(state.lines.all()), "missed_incoming_share": round(missed_in / max(1, incoming_total), 4)}


def ring_wait(state, row_id: int) -> int | None:
    """Seconds from the first ring to answer (or hang-up) of a demo call; None for other rows."""
    snap = state.calls._snap
    i = bisect.bisect_left(snap.ids, int(row_id))
    if i < len(snap.ids) and snap.ids[i] == int(row_id):
        row = snap.by_id[i]
        return row[RING_WAIT] if len(row) > RING_WAIT else None
    return None


_ = ID
