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
# messages.py keys a section's forms may redirect back with (?msg=…) to show as the page's notice
NOTICES: set[str] = set()


def register(key: str, template: str, context: Callable, first: bool = False,
             notices: tuple[str, ...] = ()) -> None:
    NOTICES.update(notices)
    if any(s.key == key for s in SECTIONS):
        return
    SECTIONS.insert(0 if first else len(SECTIONS), Section(key, template, context))
