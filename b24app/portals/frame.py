"""Who is looking: placement POSTs verified at the portal, then a signed frame token for later requests.

Iframes inside a portal get no third-party cookies, so the page hands every later request (XHR,
form posts, links) a short-lived signed token naming the portal and the user.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import time
from dataclasses import dataclass

from flask import abort, current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from .. import ratelimit
from ..bitrix import errors as E
from ..bitrix.payloads import PayloadError, PortalFrameRequest, parse_frame_request
from ..bitrix.tokens import Credentials
from ..extensions import db
from ..security import UNSAFE_METHODS, cross_site
from .models import Portal
from .rest import client_with_token
from .roles import roles_for


@dataclass(frozen=True)
class Viewer:
    portal_id: int
    member_id: str
    user_id: int
    name: str
    is_portal_admin: bool
    roles: frozenset[str]
    lang: str

    def has(self, role: str) -> bool:
        return role in self.roles


class FrameRefused(Exception):
    def __init__(self, message_key: str, status: int, field: str = ""):
        self.message_key, self.status, self.field = message_key, status, field
        super().__init__(message_key)


class _AuthCache:
    """AUTH_ID -> (user, admin) for the token's lifetime, so reopening a placement costs no REST call."""

    def __init__(self, max_items: int = 5000):
        self._items: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()
        self.max_items = max_items

    @staticmethod
    def key(member_id: str, auth_id: str) -> str:
        return hashlib.sha256(f"{member_id}:{auth_id}".encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        with self._lock:
            item = self._items.get(key)
            if item and item[0] > time.time():
                return item[1]
            self._items.pop(key, None)
            return None

    def put(self, key: str, expires_at: float, value: dict) -> None:
        with self._lock:
            if len(self._items) >= self.max_items:
                now = time.time()
                self._items = {k: v for k, v in self._items.items() if v[0] > now}
                if len(self._items) >= self.max_items:
                    self._items.clear()
            self._items[key] = (expires_at, value)


auth_cache = _AuthCache()


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="b24-frame")


def _install_mark(portal: Portal) -> int:
    """Which install of the portal a token belongs to: a reinstall ends every token of the one before."""
    return int(portal.installed_at.timestamp() * 1000) if portal.installed_at else 0


def mint_frame_token(viewer: Viewer, portal: Portal) -> str:
    return _serializer().dumps({"p": viewer.portal_id, "m": viewer.member_id, "u": viewer.user_id,
                                "n": viewer.name, "a": viewer.is_portal_admin, "l": viewer.lang,
                                "i": _install_mark(portal)})


def _portal_for(member_id: str) -> Portal:
    portal = db.session.scalar(select(Portal).where(Portal.member_id == member_id))
    if portal is None or not portal.is_active:
        raise FrameRefused("frame.not_installed", 403)
    return portal


def verify_placement(req: PortalFrameRequest) -> Viewer:
    portal = _portal_for(req.member_id)
    if req.domain.lower() != portal.domain.lower():
        raise FrameRefused("frame.foreign_portal", 403)
    key = auth_cache.key(portal.member_id, req.auth_id)
    who = auth_cache.get(key)
    if who is None:
        ratelimit.enforce("placement")  # each miss is a REST call to the portal: forged tokens must not storm it
        creds = Credentials(portal.member_id, portal.client_endpoint, portal.server_endpoint,
                            req.auth_id, "", time.time() + req.auth_expires)
        try:
            res = client_with_token(creds, max_attempts=2).batch(
                {"me": ("user.current", {}), "admin": ("user.admin", {})})
        except E.AuthError as exc:
            raise FrameRefused("frame.bad_token", 401) from exc
        except E.BitrixError as exc:
            raise FrameRefused("frame.portal_unavailable", 503) from exc
        if res.errors or not isinstance(res.results.get("me"), dict):
            raise FrameRefused("frame.bad_token", 401)
        me = res.results["me"]
        who = {"id": int(me.get("ID") or 0),
               "name": " ".join(x for x in (me.get("NAME"), me.get("LAST_NAME")) if x) or f"#{me.get('ID')}",
               "admin": res.results.get("admin") is True}
        auth_cache.put(key, time.time() + max(60, min(req.auth_expires, 3600)) - 30, who)
    lang = req.lang if req.lang in current_app.config["LANGUAGES"] else portal.language
    return Viewer(portal.id, portal.member_id, who["id"], who["name"], who["admin"],
                  roles_for(portal.id, who["id"], who["admin"]), lang if lang in ("ru", "en") else "ru")


def viewer_from_token(token: str) -> Viewer:
    try:
        data = _serializer().loads(token, max_age=current_app.config["FRAME_TOKEN_TTL"])
    except SignatureExpired as exc:
        raise FrameRefused("frame.token_expired", 401) from exc
    except BadSignature as exc:
        raise FrameRefused("frame.token_invalid", 401) from exc
    if not isinstance(data, dict) or not all(k in data for k in ("p", "m", "u", "a", "i")):
        raise FrameRefused("frame.token_invalid", 401)
    portal = _portal_for(data["m"])
    if portal.id != data["p"] or data["i"] != _install_mark(portal):
        raise FrameRefused("frame.token_invalid", 401)
    return Viewer(portal.id, portal.member_id, int(data["u"]), data.get("n", ""), bool(data["a"]),
                  roles_for(portal.id, int(data["u"]), bool(data["a"])), data.get("l", "ru"))


def _attach(viewer: Viewer) -> None:
    portal = db.session.get(Portal, viewer.portal_id)
    g.viewer = viewer
    g.frame_token = mint_frame_token(viewer, portal)
    g.frame_origin = portal.origin


def _token_from_request() -> str | None:
    """The frame token a request carries. A state-changing request must carry it in its body or header and
    come from our own pages: a token in a URL may sit in a log or a history, and a page elsewhere must
    not be able to make a user's browser act (the token is what makes a forged form useless, Origin the
    second lock)."""
    if request.method in UNSAFE_METHODS:
        token = request.headers.get("X-Frame-Token") or request.form.get("frame_token")
        if token and cross_site():
            raise FrameRefused("frame.cross_site", 403)
        return token
    return request.headers.get("X-Frame-Token") or request.args.get("ft")


def frame_request() -> PortalFrameRequest:
    """The portal's POST parsed once; a shape the portal never sends is a 400 naming what is wrong."""
    try:
        return parse_frame_request(request.args.items(multi=True), request.form.items(multi=True))
    except PayloadError as exc:
        key = "frame.bad_options" if str(exc).startswith("PLACEMENT_OPTIONS") else "frame.bad_request"
        raise FrameRefused(key, 400, field=str(exc)) from exc


def placement_view(fn=None, *, accept: tuple[str, ...] = ()):
    """For the portal's POST that opens a placement (or a GET/POST carrying a frame token).

    `accept` lists the placement codes (regular expressions) the page is bound to; another is a 400.
    """
    if fn is None:
        return functools.partial(placement_view, accept=accept)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        token = None if "AUTH_ID" in request.form else _token_from_request()
        if token:
            viewer = viewer_from_token(token)
        else:
            req = frame_request()
            if accept and not any(re.fullmatch(code, req.placement) for code in accept):
                raise FrameRefused("frame.wrong_placement", 400)
            viewer = verify_placement(req)
            g.placement = req
        _attach(viewer)
        return fn(*args, **kwargs)

    return wrapper


def frame_api(fn):
    """For requests made from inside an iframe page: the signed frame token is required."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        token = _token_from_request()
        if not token:
            raise FrameRefused("frame.token_missing", 401)
        _attach(viewer_from_token(token))
        return fn(*args, **kwargs)

    return wrapper


def require_role(*roles: str):
    def decorator(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if not any(g.viewer.has(r) for r in roles):
                abort(403)
            return fn(*args, **kwargs)

        return wrapper

    return decorator
