"""REST methods of the sandbox portal, one module per family; `registry()` maps names to handlers."""

from __future__ import annotations

from ..dispatch import MethodSpec


def registry() -> dict[str, MethodSpec]:
    from . import app, crm, disk, event, externalcall, im, imbot, offline, placement, tasks, telephony, user

    specs: dict[str, MethodSpec] = {}
    for module in (app, event, placement, telephony, user, crm, im, imbot, disk, offline, externalcall, tasks):
        for spec in module.METHODS:
            specs[spec.name] = spec
    return specs
