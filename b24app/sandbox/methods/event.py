"""event.bind / event.unbind / event.get / events, after core's rest/lib/api/event.php."""

from __future__ import annotations

from ..catalog import EVENTS, NO_OFFLINE, scopes
from ..dispatch import Call, MethodSpec
from ..envelope import RestError, argument_error, argument_null
from .common import require_app, text, upper
from .placement import check_handler_url


def _available(call: Call) -> set[str]:
    granted = scopes(call.state.settings.app_scope) | {"basic"}
    return {name for name, scope in EVENTS.items() if scope in granted}


def _event_type(p: dict) -> str:
    kind = text(p.get("EVENT_TYPE")).lower()
    if kind and kind not in ("online", "offline"):
        raise argument_error("EVENT_TYPE", "Value must be one of {online|offline}")
    return kind or "online"


def _int(value) -> int:
    try:
        return int(float(text(value) or 0))
    except ValueError:
        return 0


def bind(call: Call) -> bool:
    require_app(call)
    state, caller = call.state, call.caller
    p = upper(call.params)
    name = text(p.get("EVENT")).upper()
    handler = text(p.get("HANDLER"))
    user_id = _int(p.get("AUTH_TYPE"))
    if user_id > 0:
        if not caller.is_admin and user_id != caller.user_id:
            raise RestError("ACCESS_DENIED", "Access denied! Event binding with AUTH_TYPE requires "
                                             "administrator access rights", 403)
    elif not caller.is_admin:
        user_id = caller.user_id
    if not name:
        raise argument_null("EVENT")
    kind = _event_type(p)
    if kind == "offline":
        if not caller.is_admin:
            raise RestError("ACCESS_DENIED", "Access denied! Offline events binding requires administrator "
                                             "access rights", 403)
        handler, user_id = "", 0
    elif not handler:
        raise argument_null("HANDLER")
    if handler:
        check_handler_url(handler)
    if name not in _available(call):
        raise RestError("ERROR_EVENT_NOT_FOUND", "Event not found")
    if kind == "offline" and name in NO_OFFLINE:
        raise RestError("ERROR_ARGUMENT", "Offline event cannot be registered for this event.")
    for b in state.event_bindings(name):
        if b.handler == handler and b.auth_type == user_id and b.offline == (kind == "offline"):
            if state.settings.event_duplicate_error == "core":
                raise RestError("ERROR_CORE", "Unable to set event handler: Handler already binded")
            raise RestError("ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
    state.add_event(event=name, handler=handler, auth_type=user_id, offline=kind == "offline")
    return True


def unbind(call: Call) -> dict:
    require_app(call)
    caller = call.caller
    p = upper(call.params)
    name = text(p.get("EVENT")).upper()
    handler = text(p.get("HANDLER"))
    if not name:
        raise argument_null("EVENT")
    kind = _event_type(p)
    if kind == "offline":
        if not caller.is_admin:
            raise RestError("ACCESS_DENIED", "Access denied! Offline events unbinding requires administrator "
                                             "access rights", 403)
        handler = ""
    elif not handler:
        raise argument_null("HANDLER")
    only_user: int | None = None
    if kind == "online":
        if "AUTH_TYPE" in p:
            only_user = _int(p.get("AUTH_TYPE"))
            if not caller.is_admin and only_user != caller.user_id:
                raise RestError("ACCESS_DENIED", "Access denied! Event unbinding with AUTH_TYPE requires "
                                                 "administrator access rights", 403)
        elif not caller.is_admin:
            only_user = caller.user_id

    def matches(b) -> bool:
        return (b.event == name and b.handler == handler and b.offline == (kind == "offline")
                and (only_user is None or b.auth_type == only_user))

    return {"count": call.state.remove_events(matches)}


def get(call: Call) -> list:
    require_app(call)
    bindings = call.state.event_bindings()
    if not call.caller.is_admin:
        bindings = [b for b in bindings if b.auth_type == call.caller.user_id]
    return [b.as_rest() for b in bindings]


def events(call: Call) -> list:
    require_app(call)
    p = upper(call.params)
    if text(p.get("SCOPE")):
        wanted = {text(p.get("SCOPE"))}
        return [name for name, scope in EVENTS.items() if scope in wanted]
    if text(p.get("FULL")) and text(p.get("FULL")).lower() not in ("0", "false", "n"):
        return list(EVENTS)
    available = _available(call)
    return [name for name in EVENTS if name in available]


METHODS = [
    MethodSpec("event.bind", bind),
    MethodSpec("event.unbind", unbind),
    MethodSpec("event.get", get),
    MethodSpec("events", events),
]
