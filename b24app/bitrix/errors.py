"""Exceptions mirroring Bitrix24 error codes, and the code -> class map."""

from __future__ import annotations


class BitrixError(Exception):
    """An error answered by the portal (or the OAuth server) for one call."""

    code = "UNKNOWN"

    def __init__(self, code: str | None = None, description: str = "", status: int | None = None,
                 method: str | None = None):
        self.code = code or self.code
        self.description = description
        self.status = status
        self.method = method
        super().__init__(f"{self.code}: {description}" + (f" ({method})" if method else ""))


class TransientError(BitrixError):
    """Worth retrying after a pause."""


class QueryLimitExceeded(TransientError):
    code = "QUERY_LIMIT_EXCEEDED"


class OperationTimeLimit(TransientError):
    code = "OPERATION_TIME_LIMIT"


class ServerError(TransientError):
    code = "INTERNAL_SERVER_ERROR"


class NetworkError(TransientError):
    code = "NETWORK_ERROR"


class AuthError(BitrixError):
    """The portal refused our credentials."""


class ExpiredToken(AuthError):
    code = "expired_token"


class InvalidToken(AuthError):
    """The app is gone from the portal or the token is revoked: only a reinstall helps."""

    code = "invalid_token"


class NoAuthFound(InvalidToken):
    code = "NO_AUTH_FOUND"


class OAuthError(AuthError):
    """The OAuth server refused a refresh (invalid_grant, invalid_client …)."""


class AccessDenied(BitrixError):
    code = "ACCESS_DENIED"


class MethodNotFound(BitrixError):
    code = "ERROR_METHOD_NOT_FOUND"


class BadRequest(BitrixError):
    code = "INVALID_REQUEST"


class PortalNotReady(BitrixError):
    """The app holds no usable tokens for this portal (not installed or needs reinstall)."""

    code = "PORTAL_NOT_READY"


class ExportIncomplete(BitrixError):
    """A list export could not finish; `resume_from` is the first ID not known to be read."""

    code = "EXPORT_INCOMPLETE"

    def __init__(self, method: str, rows_read: int, resume_from: int | None, cause: BaseException):
        self.rows_read = rows_read
        self.resume_from = resume_from
        self.cause = cause
        super().__init__(self.code, f"read {rows_read} rows, resume from ID {resume_from}: {cause}",
                         method=method)


CODE_TO_CLASS: dict[str, type[BitrixError]] = {
    "QUERY_LIMIT_EXCEEDED": QueryLimitExceeded,
    "OVERLOAD_LIMIT": QueryLimitExceeded,
    "OPERATION_TIME_LIMIT": OperationTimeLimit,
    "INTERNAL_SERVER_ERROR": ServerError,
    "ERROR_UNEXPECTED_ANSWER": ServerError,
    "expired_token": ExpiredToken,
    "invalid_token": InvalidToken,
    "NO_AUTH_FOUND": NoAuthFound,
    "PORTAL_DELETED": InvalidToken,
    "invalid_grant": OAuthError,
    "invalid_client": OAuthError,
    "ACCESS_DENIED": AccessDenied,
    "INVALID_CREDENTIALS": AccessDenied,
    "insufficient_scope": AccessDenied,
    "user_access_error": AccessDenied,
    "WRONG_AUTH_TYPE": AccessDenied,
    "ERROR_METHOD_NOT_FOUND": MethodNotFound,
    "INVALID_REQUEST": BadRequest,
}


def from_response(code: str, description: str = "", status: int | None = None,
                  method: str | None = None) -> BitrixError:
    cls = CODE_TO_CLASS.get(code)
    if cls is None:
        cls = ServerError if (status or 0) >= 500 else BitrixError
    return cls(code, description, status, method)


def _root(exc: BaseException) -> BaseException:
    while isinstance(exc, ExportIncomplete) and exc.cause is not None:
        exc = exc.cause
    return exc


def needs_reinstall(exc: BaseException) -> bool:
    """True when only a reinstall helps: the token is revoked or the app is gone (the client then marks
    the portal `needs_reinstall`), the refresh was refused, or the portal is already not active."""
    root = _root(exc)
    if isinstance(root, OAuthError):
        return root.code in ("invalid_grant", "invalid_client")
    return isinstance(root, (InvalidToken, PortalNotReady))


def root_code(exc: BaseException) -> str:
    """The portal's error code behind `exc` (through an incomplete export to its cause)."""
    return getattr(_root(exc), "code", type(exc).__name__)
