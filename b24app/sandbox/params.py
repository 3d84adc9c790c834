"""Request parameters the way PHP sees them: bracket syntax (`FILTER[>=ID]=5`, `cmd[k]=…`, `a[]=`),
percent-decoding, JSON bodies; no Flask here, so batch sub-queries are parsed by the same code."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl


class ParamsError(ValueError):
    """The body could not be read (bad JSON, not an object)."""


def parse_query(text: str) -> dict[str, Any]:
    """`a=1&f[>ID]=5&l[]=x` → nested dicts/lists, like PHP's parse_str."""
    return build(parse_qsl(text, keep_blank_values=True))


def build(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Nest (key, value) pairs by their brackets; later keys overwrite earlier ones."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        _assign(root, key, value)
    return normalize(root)


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Top-level merge, later wins (PHP array_merge of $_GET and $_POST)."""
    out = dict(base)
    out.update(extra)
    return out


def request_params(query_string: str, content_type: str, body: bytes,
                   form_pairs: Iterable[tuple[str, Any]] | None = None) -> dict[str, Any]:
    """All parameters of one REST request: query string first, then the body (form or JSON)."""
    params = parse_query(query_string) if query_string else {}
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype == "application/json" or (not ctype and body[:1] in (b"{", b"[")):
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError as exc:
                raise ParamsError(f"Invalid JSON body: {exc}") from None
            if isinstance(data, list) and not data:
                data = {}
            if not isinstance(data, dict):
                raise ParamsError("JSON body must be an object")
            params = merge(params, data)
    elif ctype == "multipart/form-data" and form_pairs is not None:
        params = merge(params, build(form_pairs))
    elif body:
        params = merge(params, parse_query(body.decode("utf-8", errors="replace")))
    return params


def _assign(root: dict[str, Any], key: str, value: Any) -> None:
    open_at = key.find("[")
    if open_at <= 0:
        root[key] = value
        return
    base, segments = key[:open_at], []
    pos = open_at
    while pos < len(key) and key[pos] == "[":
        close = key.find("]", pos)
        if close == -1:
            break
        segments.append(key[pos + 1:close])
        pos = close + 1
    if not segments:
        root[key] = value
        return
    node = root
    path = [base, *segments]
    for depth, seg in enumerate(path):
        if seg == "" and depth > 0:
            seg = str(_next_index(node))
        if depth == len(path) - 1:
            node[seg] = value
        else:
            child = node.get(seg)
            if not isinstance(child, dict):
                child = {}
                node[seg] = child
            node = child


def _next_index(node: dict[str, Any]) -> int:
    ints = [int(k) for k in node if _is_index(k)]
    return max(ints) + 1 if ints else 0


def _is_index(key: Any) -> bool:
    return isinstance(key, str) and key.isdigit() and (key == "0" or not key.startswith("0"))


def normalize(node: Any) -> Any:
    """Dicts keyed exactly "0".."n-1" become lists (what PHP's json_encode would print)."""
    if isinstance(node, dict):
        node = {k: normalize(v) for k, v in node.items()}
        if node and list(node) == [str(i) for i in range(len(node))]:
            return list(node.values())
        return node
    return node


def is_plain_list(value: Any) -> bool:
    """PHP's notion of a list: every key an integer (core's `$isPlainArray`)."""
    if isinstance(value, list):
        return True
    return isinstance(value, dict) and bool(value) and all(_is_index(str(k)) for k in value)


def as_list(value: Any) -> list:
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def truthy(value: Any) -> bool:
    """PHP-ish truth of a flag sent as 1/0, true/false, Y/N."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "n", "no", "off")
    return bool(value)


def upper_keys(params: dict[str, Any], strict: bool = False) -> dict[str, Any]:
    """array_change_key_case(CASE_UPPER): later duplicates win; `strict` keeps only upper-case keys."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if strict and key != key.upper():
            continue
        out[key.upper()] = value
    return out
