"""install.json: the single declaration of the scopes, placements and events the app binds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "install.json"


@dataclass(frozen=True)
class PlacementDecl:
    placement: str
    handler: str
    title: dict


@dataclass(frozen=True)
class EventDecl:
    event: str
    handler: str


@dataclass(frozen=True)
class Manifest:
    scopes: tuple[str, ...]
    install: str
    placements: tuple[PlacementDecl, ...]
    events: tuple[EventDecl, ...]


@lru_cache(maxsize=1)
def load_manifest(path: str | None = None) -> Manifest:
    raw = json.loads(Path(path or MANIFEST_PATH).read_text(encoding="utf-8"))
    return Manifest(
        scopes=tuple(raw["scopes"]),
        install=raw["install"],
        placements=tuple(PlacementDecl(p["placement"], p["handler"], p.get("title", {}))
                         for p in raw["placements"]),
        events=tuple(EventDecl(e["event"].upper(), e["handler"]) for e in raw["events"]),
    )
