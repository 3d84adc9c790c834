"""Cross-cutting defences: secrets masked in every log line, and the origin check on state-changing requests."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request

MASK = "***"

# Credentials as they appear in URLs, form bodies, JSON and reprs: the portal's OAuth tokens and
# application token, our client secret, the frame token, and the signed prompt link.
_SECRET_KEYS = (r"access_token|refresh_token|auth_id|refresh_id|application_token|client_secret|"
                r"frame_token|X-Frame-Token|webhook_token")
_KEY_VALUE = re.compile(
    rf"(?i)((?<![A-Za-z0-9])(?:{_SECRET_KEYS})\]?[\"']?\s*[=:]\s*[\"']?)([^&\s\"',;)}}\]]+)")
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:ft|auth|code)=)([^&\s\"',;]+)")
_PROMPT_LINK = re.compile(r"(/b24/topics/prompt/)([A-Za-z0-9_.\-]+)")


def redact(text: str) -> str:
    """The same text with every credential value replaced by ***."""
    if not text:
        return text
    text = _KEY_VALUE.sub(lambda m: m.group(1) + MASK, text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _PROMPT_LINK.sub(lambda m: m.group(1) + MASK, text)


class _RedactingRecord(logging.LogRecord):
    """A log record whose message and traceback never carry a credential, whatever logger made it."""

    def getMessage(self) -> str:  # noqa: N802  (logging's name)
        return redact(super().getMessage())


_INSTALLED = False


def install_log_redaction() -> None:
    """Every record made in this process (ours, werkzeug's, gunicorn's, huey's) is redacted.

    A record factory rather than a handler filter: handlers are added later by gunicorn, flask and
    pytest, and a filter on one logger does not see records propagated from its children.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    _INSTALLED = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if not isinstance(record, _RedactingRecord):
            record.__class__ = _RedactingRecord
        if record.exc_info and not record.exc_text:
            # Tracebacks quote exception messages (URLs, reprs): format once here, redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)


# --- cross-site requests ------------------------------------------------------------------------

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


def request_origin() -> str | None:
    """The browser's claim of who made this request: Origin, else Referer's origin; None when neither."""
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.strip().lower()
    referer = request.headers.get("Referer")
    if referer:
        return _origin_of(referer) or "null"
    return None


def own_origins() -> set[str]:
    return {o for o in (_origin_of(current_app.config.get("PUBLIC_URL") or ""), _origin_of(request.host_url)) if o}


def cross_site() -> bool:
    """True when a browser says this state-changing request came from a page other than ours.

    Servers (the portal's event and install POSTs, curl) send no Origin and are judged by their
    credentials alone; a browser sends one on every POST, and our Referrer-Policy (same-origin) keeps
    it a real origin, not "null", for requests from our own pages.
    """
    if request.method not in UNSAFE_METHODS:
        return False
    claimed = request_origin()
    return claimed is not None and claimed not in own_origins()


def init_app(app: Flask) -> None:
    install_log_redaction()

    @app.after_request
    def _no_store_for_frames(resp):
        # Pages carry a frame token: no shared cache may keep them.
        if g.get("frame_token"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
