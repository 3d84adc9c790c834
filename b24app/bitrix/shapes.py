"""Declared shapes of what the portal sends (event data, placement options), checked once at the edge.

A shape turns a decoded value (a bracketed form tree or JSON) into the same structure with every
field of the expected kind, or raises `PayloadError` naming the first field that does not fit.
Leaves stay the portal's strings (a number arrives as "42"), so code downstream reads one form;
fields a shape does not declare are dropped, so nothing undeclared travels further in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field


class PayloadError(ValueError):
    """A portal POST lacks a field or carries a malformed one; the message names it."""


class Shape:
    def parse(self, value, path: str):
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Shape):
    """A string up to `max_len`; numbers are accepted as their digits (JSON may carry 17 for "17")."""

    max_len: int = 255
    pattern: str | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False

    def parse(self, value, path: str) -> str:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise PayloadError(path)
        text = str(value)
        if len(text) > self.max_len:
            raise PayloadError(path)
        if self.required and not text.strip():
            raise PayloadError(path)
        if text and self.pattern and not re.fullmatch(self.pattern, text):
            raise PayloadError(path)
        if self.choices is not None and text not in self.choices:
            raise PayloadError(path)
        return text


def Digits(max_len: int = 20, *, required: bool = False, also: tuple[str, ...] = ()) -> Text:  # noqa: N802
    """A non-negative integer as the portal writes it: digits, or empty; `also` admits literals like "undefined"."""
    alt = "".join(f"|{re.escape(a)}" for a in also)
    return Text(max_len, pattern=rf"\d+{alt}", required=required)


@dataclass(frozen=True)
class Obj(Shape):
    fields: Mapping[str, Shape] = field(default_factory=dict)
    required: tuple[str, ...] = ()

    def parse(self, value, path: str) -> dict:
        if not isinstance(value, Mapping):
            raise PayloadError(path or "body")
        out: dict = {}
        for name, shape in self.fields.items():
            sub = f"{path}[{name}]" if path else name
            if name not in value or value[name] is None:
                if name in self.required:
                    raise PayloadError(sub)
                continue
            out[name] = shape.parse(value[name], sub)
        return out


@dataclass(frozen=True)
class ListOf(Shape):
    """A list; a bracketed form sends it as a dict keyed 0, 1, 2 … which is read the same way."""

    item: Shape
    max_items: int = 100

    def parse(self, value, path: str) -> list:
        if isinstance(value, Mapping):
            if not all(isinstance(k, str) and k.isdigit() for k in value):
                raise PayloadError(path)
            value = [value[k] for k in sorted(value, key=int)]
        if not isinstance(value, list) or len(value) > self.max_items:
            raise PayloadError(path)
        return [self.item.parse(v, f"{path}[{i}]") for i, v in enumerate(value)]
