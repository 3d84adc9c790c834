"""`batch`: up to 50 sub-calls run one after another, each a full call of its own method (its own
scope and rights checks, its own operating-time billing) under the batch's token, with
`$result[key][i][FIELD]` references (core rest_provider.php, CRestServerBatchItem,
CRestUtil::ParseBatchQuery; THROUGHPUT L2, L3, L12)."""

from __future__ import annotations

import re
import time
from typing import Any

from .dispatch import MethodSpec, RequestCtx, execute, resolve_caller
from .envelope import Raw, RestError, php_array, time_block
from .params import parse_query, truthy

MAX_COMMANDS = 50
_REF = re.compile(r"\$(result_error|result_total|result_next|result_time|result)((?:\[[^\]]*\])+)")
_SEGMENT = re.compile(r"\[([^\]]*)\]")


def run(ctx: RequestCtx, registry: dict[str, MethodSpec], params: dict[str, Any],
        webhook: tuple[str, str] | None) -> dict[str, Any]:
    """The whole `batch` response body. Raises RestError only for the batch call itself (auth, 429)."""
    state, s = ctx.state, ctx.state.settings
    auth = params.get("auth")
    caller = resolve_caller(state, auth, webhook)  # the batch call is authenticated like any call
    if s.billing_key == "batch" and s.operating_enabled and state.budget.blocked(
            (caller.owner, "batch"), time.time(), s.operating_window, s.operating_limit):
        state.count("http_429")
        raise RestError("OPERATION_TIME_LIMIT", status=429)
    halt = truthy(params.get("halt", 0))
    commands = _commands(params.get("cmd"))

    started = time.time()
    sections: dict[str, dict] = {"result": {}, "result_error": {}, "result_total": {}, "result_next": {},
                                 "result_time": {}}
    results, errors = sections["result"], sections["result_error"]
    for n, (key, command) in enumerate(commands):
        if n >= MAX_COMMANDS:
            # THROUGHPUT L2 / a live portal: the extra commands fail one by one, the batch is still 200.
            errors[key] = RestError("ERROR_BATCH_LENGTH_EXCEEDED").body()
            continue
        method, _, query = (command if isinstance(command, str) else "").partition("?")
        sub_params = _substitute(parse_query(query), sections) if query else {}
        outcome = execute(ctx, registry, method, sub_params, webhook, caller=caller, in_batch=True)
        if outcome.error is not None:
            errors[key] = {"error": outcome.error.code, "error_description": outcome.error.description}
            if halt:
                break
            continue
        results[key] = outcome.result
        if outcome.total is not None:
            sections["result_total"][key] = outcome.total
        if outcome.next is not None:
            sections["result_next"][key] = outcome.next
        sections["result_time"][key] = outcome.time
    finished = time.time()
    body = {name: php_array(section) for name, section in sections.items()}
    return {"result": body, "processing": finished - started}


def outer_time(ctx: RequestCtx, started: float, finished: float, processing: float) -> dict[str, Any]:
    # Fixture batch.response: the outer `time` has no operating keys (batch itself is not billed).
    return time_block(started, finished, processing, ctx.state.tz)


def _commands(cmd: Any) -> list[tuple[Any, Any]]:
    if isinstance(cmd, list):
        return list(enumerate(cmd))
    if isinstance(cmd, dict):
        # PHP turns numeric string keys into integers, so {"0": …} answers like a list.
        return [(int(k) if isinstance(k, str) and k.isdigit() and (k == "0" or k[0] != "0") else k, v)
                for k, v in cmd.items()]
    return []


def _substitute(node: Any, sections: dict[str, dict]) -> Any:
    """Replace `$result[...]` references in keys and values (core processBatchStructure)."""
    if isinstance(node, dict):
        return {_element(k, sections) if isinstance(k, str) else k: _substitute(v, sections)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute(v, sections) for v in node]
    if isinstance(node, str):
        return _element(node, sections)
    return node


def _element(text: str, sections: dict[str, dict]) -> Any:
    if "$" not in text:
        return text
    matches = list(_REF.finditer(text))
    if not matches:
        return text
    if len(matches) == 1 and matches[0].group(0) == text:
        return _resolve(matches[0], sections)  # a whole-value reference keeps its type (even a list)
    return _REF.sub(lambda m: _as_text(_resolve(m, sections)), text)


def _resolve(match: re.Match, sections: dict[str, dict]) -> Any:
    value: Any = sections[match.group(1)]
    for segment in _SEGMENT.findall(match.group(2)):
        if isinstance(value, Raw):
            value = value.data
        if isinstance(value, dict):
            if segment in value:
                value = value[segment]
            elif segment.isdigit() and int(segment) in value:
                value = value[int(segment)]
            else:
                return ""  # an unknown key resolves to an empty value
        elif isinstance(value, list) and segment.isdigit() and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return ""
    if isinstance(value, Raw):
        value = value.data
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return "Array"  # what PHP's str_replace makes of an array
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return str(value)
