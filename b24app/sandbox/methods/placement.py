"""placement.bind / placement.unbind / placement.get, after core's rest/lib/api/placement.php."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..catalog import placement_kind, scopes
from ..dispatch import Call, MethodSpec
from ..envelope import RestError, argument_error, argument_null
from .common import require_admin, require_app, text, upper

APP_NAME = "Локальное приложение"


def check_handler_url(url: str) -> None:
    """Core HandlerHelper::checkCallback: a host with a dot, and http(s)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or host.find(".") <= 0:
        raise RestError("ERROR_WRONG_HANDLER_URL", "Wrong handler URL")
    if parts.scheme not in ("http", "https"):
        raise RestError("ERROR_UNSUPPORTED_PROTOCOL", "Unsupported handler protocol")


def _permission(call: Call) -> None:
    require_app(call, "Application context required")
    require_admin(call)


def bind(call: Call) -> bool:
    _permission(call)
    state = call.state
    p = upper(call.params)
    code = text(p.get("PLACEMENT")).upper()
    handler = text(p.get("HANDLER"))
    if not code:
        raise argument_null("PLACEMENT")
    if code == "DEFAULT":
        raise argument_error("PLACEMENT", "Wrong value")
    if not handler:
        raise argument_null("HANDLER")
    check_handler_url(handler)

    kind = placement_kind(code)
    granted = scopes(state.settings.app_scope)
    if kind is None or kind.scope not in granted:
        raise RestError("ERROR_PLACEMENT_NOT_FOUND", "Placement not found")
    try:
        user_id = max(0, int(float(text(p.get("USER_ID")) or 0)))
    except ValueError:
        user_id = 0
    if user_id and not kind.user_mode:
        raise RestError("ERROR_PLACEMENT_USER_MODE", "User mode is not available.")

    options_in = p.get("OPTIONS") if isinstance(p.get("OPTIONS"), dict) else {}
    options = {}
    for key, kind_of in kind.options.items():
        if key in options_in and options_in[key] not in (None, ""):
            options[key] = int(options_in[key]) if kind_of == "int" else str(options_in[key])
    if code == "PAGE_BACKGROUND_WORKER" and not options.get("errorHandlerUrl"):
        raise RestError("EMPTY_ERROR_HANDLER_URL", "Error handler URL is not specified")

    lang_default = state.settings.language
    langs: dict[str, dict[str, str]] = {}
    lang_all = p.get("LANG_ALL")
    if isinstance(lang_all, dict) and lang_all:
        for lang, item in lang_all.items():
            item = item if isinstance(item, dict) else {}
            langs[str(lang)] = {f: text(item.get(f)) for f in ("TITLE", "DESCRIPTION", "GROUP_NAME")}
    else:
        entry = {f: text(p.get(f)) for f in ("TITLE", "DESCRIPTION", "GROUP_NAME") if text(p.get(f))}
        if entry:
            langs[lang_default] = {f: entry.get(f, "") for f in ("TITLE", "DESCRIPTION", "GROUP_NAME")}
    if not langs:
        langs[lang_default] = {"TITLE": APP_NAME, "DESCRIPTION": "", "GROUP_NAME": ""}
    main = langs.get(lang_default) or next(iter(langs.values()))

    mine = [b for b in state.placements() if b.placement == code]
    if kind.max_count and len([b for b in mine if b.user_id in (0, user_id)]) >= kind.max_count:
        raise RestError("ERROR_PLACEMENT_MAX_COUNT", f"Placement max count: {kind.max_count}")
    if any(b.handler == handler for b in mine):
        # Core: PlacementTable::checkUniq → "Handler already binded", wrapped as ERROR_CORE.
        raise RestError("ERROR_CORE", "Unable to set placement handler: Handler already binded")
    state.add_placement(placement=code, handler=handler, title=main.get("TITLE", ""),
                        description=main.get("DESCRIPTION", ""), group_name=main.get("GROUP_NAME", ""),
                        lang_all=langs, options=options or [], user_id=user_id)
    return True


def unbind(call: Call) -> dict:
    _permission(call)
    p = upper(call.params)
    raw = p.get("PLACEMENT")
    if raw is not None and not isinstance(raw, str):
        raise argument_error("PLACEMENT", "The value of an argument 'PLACEMENT' has an invalid type. "
                                          "Expected type: string")
    code = text(raw).upper()
    if not code:
        raise argument_null("PLACEMENT")
    handler = text(p.get("HANDLER"))
    has_user = "USER_ID" in p
    try:
        user_id = int(float(text(p.get("USER_ID")) or 0))
    except ValueError:
        user_id = 0
    if placement_kind(code) is None:
        return {"count": 0}

    def matches(b) -> bool:
        return (b.placement == code and (not handler or b.handler == handler)
                and (not has_user or b.user_id == user_id))

    removed = call.state.remove_placements(matches)
    # Core counts every deleted row twice (`$cnt++` before and after the delete); kept as core does.
    return {"count": removed * 2}


def get(call: Call) -> list:
    _permission(call)
    return [b.as_rest() for b in call.state.placements()]


METHODS = [
    MethodSpec("placement.bind", bind, "placement"),
    MethodSpec("placement.unbind", unbind, "placement"),
    MethodSpec("placement.get", get, "placement"),
]
