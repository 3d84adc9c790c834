"""Call Quality for Bitrix24: a Flask local app for call quality control and analytics."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from .config import Config


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(Config().as_dict())
    if config:
        app.config.update(config)
        # Engine options follow the database actually used, unless the caller set them too.
        uri = Config._database_url(app.config["SQLALCHEMY_DATABASE_URI"])
        app.config["SQLALCHEMY_DATABASE_URI"] = uri
        if "SQLALCHEMY_ENGINE_OPTIONS" not in config:
            app.config["SQLALCHEMY_ENGINE_OPTIONS"] = Config._engine_options(uri)

    from . import jobs
    from .extensions import babel, db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_root() / "migrations"))
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories=str(_root() / "translations"))
    jobs.init_app(app)
    _sqlite_pragmas(app)

    from .portals import rest

    rest.init_app(app)
    app.url_map.converters["int"] = RowId  # before any route is declared
    _register_blueprints(app)
    _register_errors(app)
    _register_headers(app)

    from . import cli, security

    security.init_app(app)
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)
    cli.init_app(app)
    logging.getLogger("b24app").setLevel(app.config.get("LOG_LEVEL", "INFO"))
    return app


class RowId(IntegerConverter):
    """`<int:…>` in a URL is a row id: one every id column can hold — INTEGER, the narrowest, which PostgreSQL
    checks (a larger one is a 404, not an overflow; a billion calls a year would take two years to pass it)."""

    def __init__(self, map, *args, **kwargs):  # noqa: A002  (werkzeug's signature)
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _root():
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


def _register_blueprints(app: Flask) -> None:
    from .calls import history as _call_history  # noqa: F401  (import and reconcile jobs)
    from .calls import intake as _call_intake  # noqa: F401  (telephony event handlers)
    from .calls import routes as call_routes
    from .calls import setup as _call_setup  # noqa: F401  (after-install hook)
    from .inbox import routes as inbox_routes
    from .inbox import tasks as _inbox_tasks  # noqa: F401  (registers jobs)
    from .portals import events as _portal_events  # noqa: F401  (registers event handlers and jobs)
    from .portals import routes as portal_routes
    from .qa import cards as _qa_cards  # noqa: F401  (card jobs)
    from .qa import routes as qa_routes
    from .qa import setup as _qa_setup  # noqa: F401  (after-install hook: the smart process)
    from .qa import workload_views  # the reviewer's queue section, its routes and the workload jobs
    from .reports import models as _report_models  # noqa: F401  (report settings, runs, files)
    from .topics import setup as _topic_setup  # noqa: F401  (after-install hook: default topics)

    app.register_blueprint(portal_routes.bp)
    app.register_blueprint(call_routes.bp)
    app.register_blueprint(qa_routes.bp)
    app.register_blueprint(workload_views.bp)
    app.register_blueprint(inbox_routes.bp)
    from .analytics import (  # noqa: F401  (the analytics pages; page.tab() orders their tabs)
        board_views,
        calls_views,
        live_views,
        overview_views,
        pivot_views,
        quality_views,
        settings_section,
        tables_views,
    )
    from .analytics import recount as _analytics_recount  # noqa: F401  (aggregate hooks and jobs)
    from .analytics import routes as analytics_routes
    from .reports import on_demand_views as _report_tab  # noqa: F401  (the «Отчёт» tab, after the analytics tabs)
    from .topics import card_views, catalogue_views, prompts
    from .topics import time_zone as _time_zone  # noqa: F401  (the hourly re-read of the portal's UTC offset)

    app.register_blueprint(analytics_routes.bp)

    for topic_bp in (card_views.bp, catalogue_views.bp, prompts.bp):
        app.register_blueprint(topic_bp)
    from .qa import checklist_views  # the «Чек-листы» section, after the topics that pick a checklist

    app.register_blueprint(checklist_views.bp)
    from .qa import calibration_views  # after the topic sections: the settings page shows it below them

    app.register_blueprint(calibration_views.bp)
    from .qa import feedback_views, settings_views  # the manager's result page; the «Оценка качества» section

    app.register_blueprint(feedback_views.bp)
    app.register_blueprint(settings_views.bp)
    from .reports import settings_views as report_settings  # the «Отчёты» section; its schedule and run jobs
    from .routing import alignment as _routing_alignment  # noqa: F401  (the bulk alignment job and its sweep)
    from .routing import callbacks as _routing_callbacks  # noqa: F401  (callback tasks for lost calls)
    from .routing import models as _routing_models  # noqa: F401  (call distribution)
    from .routing import ongoing as _routing_ongoing  # noqa: F401  (deal and contact events, the re-check)
    from .routing import pbx_views as routing_pbx  # the PBX's routing answer
    from .routing import settings_views as routing_settings  # the «Распределение звонков» section

    app.register_blueprint(routing_settings.bp)

    app.register_blueprint(routing_pbx.bp)
    app.register_blueprint(report_settings.bp)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")


def _select_locale() -> str:
    viewer = g.get("viewer")
    if viewer is not None:
        return viewer.lang
    if g.get("locale"):
        return g.locale
    lang = (request.args.get("LANG") or "").lower()[:2]
    return lang if lang in ("ru", "en") else "ru"


def _register_errors(app: Flask) -> None:
    from .messages import message
    from .portals.frame import FrameRefused

    def render(status: int, text: str):
        wants_json = request.path.startswith("/b24/events") or request.accept_mimetypes.best == "application/json"
        if wants_json:
            return jsonify(error=text), status
        return render_template("error.html", text=text), status

    @app.errorhandler(FrameRefused)
    def frame_refused(exc: FrameRefused):
        if not g.get("frame_origin"):
            domain = request.args.get("DOMAIN", "")
            proto = "https" if request.args.get("PROTOCOL", "1") == "1" else "http"
            if domain and all(c.isalnum() or c in ".-:" for c in domain):
                g.frame_origin = f"{proto}://{domain}"
        return render(exc.status, message(exc.message_key).replace("{field}", exc.field or "?"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        key = f"http.{exc.code}"
        text = message(key)
        body, status = render(exc.code or 500, text if text != key else (exc.description or ""))
        headers = {k: v for k, v in exc.get_headers() if k in ("Retry-After", "Allow")}
        return body, status, headers

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        return render(500, message("http.500"))


def _register_headers(app: Flask) -> None:
    @app.after_request
    def security_headers(resp):
        # Only the installing portal may frame our pages (no X-Frame-Options: it cannot name an origin).
        origin = g.get("frame_origin")
        resp.headers["Content-Security-Policy"] = f"frame-ancestors {origin}" if origin else "frame-ancestors 'none'"
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        # same-origin: our own forms keep a real Origin (the CSRF check reads it), nothing leaves for others.
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        return resp


_PRAGMAS_INSTALLED = False


def _sqlite_pragmas(app: Flask) -> None:
    global _PRAGMAS_INSTALLED
    if _PRAGMAS_INSTALLED or not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    _PRAGMAS_INSTALLED = True
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_conn, _record):  # WAL lets the web and worker processes read while one writes
        if type(dbapi_conn).__module__.startswith("sqlite3"):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
