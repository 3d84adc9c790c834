"""The REST client: one portal, every call paced by the portal's limits, retried until it is answered.

Paces each request through the shared leaky bucket and the per-method operating budget, retries
what the portal refuses for a while (503, 429, 5xx, network), refreshes an expired token once for
all workers, and gives up loudly: a call either returns the portal's answer or raises.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import orjson
import requests
import urllib3

from . import errors as E
from .limits import Bucket, OperatingBudget, wait_for_slot
from .payloads import http_build_query
from .tokens import Credentials, TokenStore, credentials_from_grant, refresh_grant

log = logging.getLogger(__name__)

BATCH_LIMIT = 50
PAGE_SIZE = 50


@dataclass
class ApiResponse:
    result: object
    total: int | None = None
    next: int | None = None
    time: dict = field(default_factory=dict)


@dataclass
class BatchResult:
    results: dict = field(default_factory=dict)
    errors: dict = field(default_factory=dict)      # key -> BitrixError (non-retryable)
    totals: dict = field(default_factory=dict)
    times: dict = field(default_factory=dict)

    def raise_first(self) -> None:
        for err in self.errors.values():
            raise err


@dataclass(frozen=True)
class ListSpec:
    """How one list method spells its filter, order and rows (they differ across Bitrix24 modules)."""

    filter_key: str = "filter"
    id_field: str = "ID"
    rows_key: str | None = None            # crm.item.list nests rows in result.items
    order_style: str = "order"             # "order" -> order[ID]=ASC; "sort" -> SORT=ID&ORDER=ASC

    def order(self, direction: str) -> dict:
        if self.order_style == "sort":
            return {"SORT": self.id_field, "ORDER": direction}
        return {"order": {self.id_field: direction}}

    def rows(self, result) -> list:
        if self.rows_key and isinstance(result, dict):
            result = result.get(self.rows_key, [])
        if isinstance(result, dict):  # some methods return an ID-keyed object
            return list(result.values())
        return list(result or [])


LIST_SPECS: dict[str, ListSpec] = {
    "voximplant.statistic.get": ListSpec(filter_key="FILTER", order_style="sort"),
    "crm.item.list": ListSpec(filter_key="filter", id_field="id", rows_key="items"),
    "user.get": ListSpec(filter_key="FILTER", order_style="sort"),
}


class BitrixClient:
    def __init__(self, member_id: str, store: TokenStore, bucket: Bucket, budget: OperatingBudget, *,
                 client_id: str, client_secret: str, session: requests.Session | None = None,
                 max_attempts: int = 12, max_limit_waits: int = 40, timeout: float = 70.0,
                 concurrency: int = 8, backoff_base: float = 0.5, backoff_cap: float = 20.0):
        self.member_id = member_id
        self.store, self.bucket, self.budget = store, bucket, budget
        self.client_id, self.client_secret = client_id, client_secret
        self.session = session or _default_session(concurrency)
        self.max_attempts, self.max_limit_waits = max_attempts, max_limit_waits
        self.timeout, self.concurrency = timeout, concurrency
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self._creds: Credentials | None = None
        self._creds_lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "refreshes": 0}

    # ---- credentials -------------------------------------------------------------------------
    def _credentials(self) -> Credentials:
        with self._creds_lock:
            if self._creds is None:
                self._creds = self.store.load(self.member_id)
            return self._creds

    def _refresh(self, stale: Credentials) -> None:
        def refresher(current: Credentials) -> Credentials:
            body = refresh_grant(self.session, current, self.client_id, self.client_secret)
            self.stats["refreshes"] += 1
            return credentials_from_grant(self.member_id, current, body)

        try:
            fresh = self.store.refresh(self.member_id, stale.access_token, refresher)
        except E.OAuthError as exc:
            if exc.code in ("invalid_grant", "invalid_client"):
                self.store.mark_needs_reinstall(self.member_id, exc.code)
            raise
        with self._creds_lock:
            self._creds = fresh

    # ---- one HTTP request, with all the retrying -------------------------------------------------
    def _send(self, method: str, params: Mapping, billed: Mapping[str, int],
              sub_methods: Mapping[str, str] | None = None) -> dict:
        """POST one method (or `batch`); return the decoded body of a successful answer."""
        attempts = limit_waits = refreshes = 0
        while True:
            creds = self._credentials()
            bookings = {m: self.budget.book(self.member_id, m, n) for m, n in billed.items()}
            wait_for_slot(self.bucket, self.member_id)
            started = time.time()
            body: dict | None = None
            try:
                self.stats["requests"] += 1
                resp = self.session.post(f"{creds.client_endpoint}{method}", stream=True,
                                         json={**params, "auth": creds.access_token}, timeout=self.timeout)
                status = resp.status_code
                content = _read_body(resp)
                try:  # orjson: an export parses hundreds of thousands of rows, at a third of json's cost
                    body = orjson.loads(content)
                except orjson.JSONDecodeError:
                    body = None
                if not isinstance(body, dict):
                    err = E.ServerError("ERROR_UNEXPECTED_ANSWER", f"HTTP {status}, not JSON", status, method)
                elif "error" in body:
                    err = E.from_response(str(body["error"]), str(body.get("error_description", "")),
                                          status, method)
                else:
                    err = None
            except requests.RequestException as exc:
                err = E.NetworkError(description=type(exc).__name__, method=method)
            self._settle(bookings, body, err, started, dict(sub_methods or {}))
            if err is None:
                return body
            if isinstance(err, E.ExpiredToken) and refreshes < 3:
                refreshes += 1
                self._refresh(creds)
                continue
            if isinstance(err, E.InvalidToken):
                self.store.mark_needs_reinstall(self.member_id, err.code)
                raise err
            if isinstance(err, E.OperationTimeLimit) and limit_waits < self.max_limit_waits:
                limit_waits += 1
                reset_at = (body or {}).get("time", {}).get("operating_reset_at")
                for m in billed:
                    self.budget.blocked(self.member_id, m, reset_at)
                continue
            if isinstance(err, E.TransientError) and not isinstance(err, E.OperationTimeLimit) \
                    and attempts < self.max_attempts:
                attempts += 1
                self.stats["retries"] += 1
                delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
                time.sleep(delay * (0.5 + random.random() / 2))
                continue
            raise err

    def _settle(self, bookings: dict, body: dict | None, err, started: float, sub_methods: dict) -> None:
        t = (body or {}).get("time") or {}
        inner = (body or {}).get("result") if sub_methods else None
        inner_times = inner.get("result_time") if isinstance(inner, dict) else None
        for method, booked in bookings.items():
            if sub_methods:
                mine = [v for k, v in (inner_times or {}).items()
                        if isinstance(v, dict) and sub_methods.get(k) == method] if isinstance(inner_times, dict) else []
                spent = sum(float(v.get("processing") or v.get("duration") or 0) for v in mine)
                ops = [float(v["operating"]) for v in mine if v.get("operating") is not None]
                resets = [float(v["operating_reset_at"]) for v in mine if v.get("operating_reset_at")]
                self.budget.settle(self.member_id, method, booked, operating=max(ops) if ops else None,
                                   reset_at=max(resets) if resets else None, spent=spent, calls=len(mine))
            else:
                ok = err is None
                spent = float(t.get("processing") or t.get("duration") or 0) if ok else 0.0
                self.budget.settle(self.member_id, method, booked,
                                   operating=float(t["operating"]) if ok and "operating" in t else None,
                                   reset_at=t.get("operating_reset_at"), spent=spent, calls=1 if ok else 0)

    # ---- public API --------------------------------------------------------------------------------
    def call(self, method: str, params: Mapping | None = None) -> ApiResponse:
        body = self._send(method, dict(params or {}), {method: 1})
        return ApiResponse(body.get("result"), body.get("total"), body.get("next"), body.get("time") or {})

    def batch(self, commands: Mapping[str, tuple[str, Mapping]], halt: bool = False) -> BatchResult:
        """Run up to 50 commands in one request; retry the ones the portal refused for a while."""
        if len(commands) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands, got {len(commands)}")
        out = BatchResult()
        todo = dict(commands)
        rounds = 0
        while todo:
            rounds += 1
            billed: dict[str, int] = {}
            for m, _ in todo.values():
                billed[m] = billed.get(m, 0) + 1
            cmd = {k: f"{m}?{http_build_query(p)}" for k, (m, p) in todo.items()}
            body = self._send("batch", {"cmd": cmd, "halt": 1 if halt else 0}, billed,
                              {k: m for k, (m, _) in todo.items()})
            inner = body.get("result") or {}
            results = inner.get("result") or {}
            errs = inner.get("result_error") or {}
            totals = inner.get("result_total") or {}
            times = inner.get("result_time") or {}
            retry: dict = {}
            blocked_reset = None
            for key in list(todo):
                if isinstance(errs, dict) and key in errs:
                    e = errs[key] or {}
                    err = E.from_response(str(e.get("error", "")), str(e.get("error_description", "")),
                                          None, todo[key][0])
                    if isinstance(err, E.TransientError) and rounds <= self.max_limit_waits:
                        retry[key] = todo[key]
                        if isinstance(err, E.OperationTimeLimit):
                            blocked_reset = (times.get(key) or {}).get("operating_reset_at") if isinstance(times, dict) else None
                            self.budget.blocked(self.member_id, todo[key][0], blocked_reset)
                    else:
                        out.errors[key] = err
                elif isinstance(results, dict) and key in results:
                    out.results[key] = results[key]
                    if isinstance(totals, dict) and key in totals:
                        out.totals[key] = totals[key]
                    if isinstance(times, dict) and key in times:
                        out.times[key] = times[key]
                elif halt:
                    retry[key] = todo[key]  # not run because an earlier command failed
                else:
                    out.errors[key] = E.ServerError("ERROR_UNEXPECTED_ANSWER", "no result for command",
                                                    None, todo[key][0])
            if halt and out.errors:
                break
            todo = retry
            if todo:
                self.stats["retries"] += 1
                if blocked_reset is None:
                    time.sleep(min(self.backoff_cap, self.backoff_base * rounds))
        return out

    # ---- exports -----------------------------------------------------------------------------------
    def export(self, method: str, params: Mapping | None = None, *,
               on_rows: Callable[[list[dict]], None], resume_from: int | None = None,
               spec: ListSpec | None = None, on_progress: Callable[[int], None] | None = None) -> int:
        """Read every row of a list method in ID order windows; return the row count.

        Rows are handed to `on_rows` in batches as they arrive (not strictly in ID order). If the
        export cannot finish it raises `ExportIncomplete` whose `resume_from` is the smallest ID
        whose window was not fully read: passing it back reads on from there (rows at or after
        it may be delivered twice, so `on_rows` must be idempotent). After each hand-over
        `on_progress`, when given, gets that same ID as it stands then: every row below it has been
        handed over, so a caller that keeps it with what it wrote can resume a crashed export.
        """
        spec = spec or LIST_SPECS.get(method, ListSpec())
        base = dict(params or {})
        user_filter = dict(base.pop(spec.filter_key, None) or base.pop(spec.filter_key.lower(), None) or {})

        def page(lo: int, hi: int | None) -> tuple[str, dict]:
            flt = {**user_filter, f">={spec.id_field}": lo}
            if hi is not None:
                flt[f"<{spec.id_field}"] = hi
            return method, {**base, spec.filter_key: flt, **spec.order("ASC"), "start": -1}

        probe = self.batch({
            "first": (method, {**base, spec.filter_key: user_filter, **spec.order("ASC"), "start": -1}),
            "last": (method, {**base, spec.filter_key: user_filter, **spec.order("DESC"), "start": -1}),
        })
        probe.raise_first()
        first, last = spec.rows(probe.results.get("first")), spec.rows(probe.results.get("last"))
        if not first:
            return 0
        lo, hi = int(first[0][spec.id_field]), int(last[0][spec.id_field]) if last else None
        if hi is None:
            raise E.ExportIncomplete(method, 0, lo, E.ServerError(description="no last row"))
        if resume_from is not None:
            lo = max(lo, int(resume_from))
        width = PAGE_SIZE
        cursor = lo
        pending: deque[tuple[int, int]] = deque()   # remainders of windows that came back full
        inflight: dict = {}
        seen_rows = spanned = 0
        total = 0
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="b24-export")

        def take() -> list[tuple[int, int]]:
            nonlocal cursor
            chunk: list[tuple[int, int]] = []
            while pending and len(chunk) < BATCH_LIMIT:
                chunk.append(pending.popleft())
            while cursor <= hi and len(chunk) < BATCH_LIMIT:
                chunk.append((cursor, min(cursor + width, hi + 1)))
                cursor += width
            return chunk

        def unfinished_from() -> int:
            starts = [w[0] for w in pending] + [w[0] for ws in inflight.values() for w in ws]
            if cursor <= hi:
                starts.append(cursor)
            return min(starts) if starts else hi + 1

        try:
            while True:
                while len(inflight) < self.concurrency:
                    chunk = take()
                    if not chunk:
                        break
                    cmds = {f"w{i}": page(a, b) for i, (a, b) in enumerate(chunk)}
                    inflight[pool.submit(self.batch, cmds)] = chunk
                if not inflight:
                    break
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = inflight[fut]
                    try:
                        res = fut.result()
                        res.raise_first()
                    except E.BitrixError as exc:
                        raise E.ExportIncomplete(method, total, unfinished_from(), exc) from exc
                    del inflight[fut]
                    got: list[dict] = []
                    for i, (a, b) in enumerate(chunk):
                        rows = spec.rows(res.results.get(f"w{i}"))
                        got.extend(rows)
                        if len(rows) >= PAGE_SIZE:
                            nxt = int(rows[-1][spec.id_field]) + 1
                            if nxt < b:
                                pending.append((nxt, b))
                            spanned += nxt - a
                        else:
                            spanned += b - a
                        seen_rows += len(rows)
                    if got:  # one hand-over per batch answer: the receiver writes it in one transaction
                        on_rows(got)
                        total += len(got)
                    if on_progress is not None:
                        on_progress(unfinished_from())
                    if spanned:
                        density = max(seen_rows / spanned, 0.001)
                        width = max(PAGE_SIZE, int(PAGE_SIZE / density * 0.85))
        except BaseException:
            for fut in inflight:
                fut.cancel()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return total

    def list_pages(self, method: str, params: Mapping | None = None, rows_key: str | None = None,
                   max_pages: int = 200) -> list[dict]:
        """Small lists (types, stages, fields) by plain offset pages; big ones go through `export`."""
        spec = ListSpec(rows_key=rows_key)
        rows: list[dict] = []
        start: int | None = 0
        for _ in range(max_pages):
            page = self.call(method, {**(params or {}), "start": start})
            rows.extend(spec.rows(page.result))
            start = page.next
            if start is None:
                return rows
        raise E.ExportIncomplete(method, len(rows), None, E.BitrixError(description="too many pages"))

    def list_all(self, method: str, params: Mapping | None = None, **kw) -> list[dict]:
        rows: list[dict] = []
        self.export(method, params, on_rows=rows.extend, **kw)
        return rows

    def iter_batches(self, calls: Iterable[tuple[str, Mapping]]) -> Iterable[BatchResult]:
        """Run many independent calls 50 to a request, `concurrency` requests at a time."""
        chunk: list = []
        chunks: list[dict] = []
        for i, c in enumerate(calls):
            chunk.append((f"c{i}", c))
            if len(chunk) == BATCH_LIMIT:
                chunks.append(dict(chunk))
                chunk = []
        if chunk:
            chunks.append(dict(chunk))
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            yield from pool.map(self.batch, chunks)


def _read_body(resp: requests.Response) -> bytes:
    """The whole body in one read: `resp.content` reads 10 KB at a time through several layers, which
    costs an export of a few MB per answer twice the CPU. The connection goes back to the pool."""
    try:
        body = resp.raw.read(decode_content=True)
    except urllib3.exceptions.HTTPError as exc:  # what requests would have raised as a ConnectionError
        resp.close()  # a half-read connection is not reused
        raise requests.ConnectionError(exc) from exc
    resp.raw.release_conn()
    return body


def _default_session(pool: int) -> requests.Session:
    s = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=max(pool, 10), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "call-quality-b24/1.0"
    return s
