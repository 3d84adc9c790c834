"""Sections that feature packages add to the settings page (LEFT_MENU), in order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    key: str
    template: str
    context: Callable  # (viewer) -> dict


SECTIONS: list[Section] = []


def register(key: str, template: str, context: Callable) -> None:
    if all(s.key != key for s in SECTIONS):
        SECTIONS.append(Section(key, template, context))
