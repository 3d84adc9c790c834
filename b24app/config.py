"""Settings read from the environment: the only module that touches os.environ."""

from __future__ import annotations

import os
from pathlib import Path

from .ratelimit import parse_limits

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _positive_int(name: str, default: int) -> int:
    text = _env(name, str(default)) or str(default)
    try:
        value = int(text)
    except ValueError as exc:
        raise ValueError(f"{name} must be a whole number, got {text!r}") from exc
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {text!r}")
    return value


def parse_rate_limit(text: str) -> tuple[float, int]:
    """`B24_RATE_LIMIT` is "<requests per second>/<burst>", e.g. "2/50"."""
    try:
        rate, burst = text.split("/", 1)
        rate_f, burst_i = float(rate), int(burst)
    except ValueError as exc:
        raise ValueError(f"B24_RATE_LIMIT must look like '2/50', got {text!r}") from exc
    if rate_f <= 0 or burst_i < 1:
        raise ValueError(f"B24_RATE_LIMIT must be positive, got {text!r}")
    return rate_f, burst_i


class Config:
    def __init__(self) -> None:
        INSTANCE_DIR.mkdir(exist_ok=True)
        # Sessions are not used (iframes get no third-party cookies); the key signs frame tokens.
        self.SECRET_KEY = _env("SECRET_KEY") or self._dev_secret()
        self.PUBLIC_URL = (_env("PUBLIC_URL", "http://127.0.0.1:5000") or "").rstrip("/")
        self.SQLALCHEMY_DATABASE_URI = self._database_url(_env("DATABASE_URL"))
        self.SQLALCHEMY_ENGINE_OPTIONS = self._engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.REDIS_URL = _env("REDIS_URL")
        self.B24_CLIENT_ID = _env("B24_CLIENT_ID", "")
        self.B24_CLIENT_SECRET = _env("B24_CLIENT_SECRET", "")
        self.B24_RATE_LIMIT = parse_rate_limit(_env("B24_RATE_LIMIT", "2/50") or "2/50")
        # Seconds of server time per method per window; the cloud documents 480 s per 10 min.
        self.B24_OPERATING_LIMIT = float(_env("B24_OPERATING_LIMIT", "480") or 480)
        self.B24_OPERATING_WINDOW = float(_env("B24_OPERATING_WINDOW", "600") or 600)
        self.JOBS_IMMEDIATE = _env("JOBS_IMMEDIATE", "0") == "1"
        self.HUEY_SQLITE_PATH = _env("HUEY_SQLITE_PATH", str(INSTANCE_DIR / "jobs.db"))
        # Recovery of lost work (README, "Running and deploying at scale"): how often reconcile (calls
        # whose events were lost, cards whose job was lost) and the inbox sweep run, in minutes; after
        # how many seconds work a job left unfinished counts as lost (inbox rows, card claims, an
        # import without heartbeat).
        self.RECONCILE_EVERY_MINUTES = _positive_int("RECONCILE_EVERY_MINUTES", 5)
        self.SWEEP_EVERY_MINUTES = _positive_int("SWEEP_EVERY_MINUTES", 5)
        self.JOB_STALE_AFTER = _positive_int("JOB_STALE_AFTER", 300)
        # Days an uninstalled portal's data is kept before it is purged.
        self.UNINSTALL_RETENTION_DAYS = int(_env("UNINSTALL_RETENTION_DAYS", "30") or 30)
        # Lifetime of the signed token that iframe XHR/form requests carry.
        self.FRAME_TOKEN_TTL = int(_env("FRAME_TOKEN_TTL", "3600") or 3600)
        # Per-address limits on the app's public endpoints (ratelimit.py); "install=20/60,prompt=60/60".
        self.RATE_LIMITS_ENABLED = _env("RATE_LIMITS_ENABLED", "1") == "1"
        self.RATE_LIMITS = parse_limits(_env("RATE_LIMITS"))
        # Reverse proxies in front of gunicorn whose X-Forwarded-For/-Proto/-Host are trusted (0 = none).
        self.TRUSTED_PROXIES = int(_env("TRUSTED_PROXIES", "0") or 0)
        self.BABEL_DEFAULT_LOCALE = "ru"
        self.LANGUAGES = ("ru", "en")
        self.TESTING = False

    @staticmethod
    def _dev_secret() -> str:
        path = INSTANCE_DIR / "secret_key"
        if not path.exists():
            path.write_text(os.urandom(32).hex())
        return path.read_text().strip()

    @staticmethod
    def _database_url(url: str | None) -> str:
        if not url:
            return f"sqlite:///{INSTANCE_DIR / 'app.db'}"
        # psycopg 3 is the driver; accept the common postgres:// spellings.
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @staticmethod
    def _engine_options(url: str) -> dict:
        if url.startswith("sqlite"):
            return {"connect_args": {"timeout": 30, "check_same_thread": False}}
        return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 20}

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}
