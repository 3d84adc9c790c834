"""CLI: `python -m b24app.sandbox serve --port P --oauth-port Q …` prints one JSON line with the
addresses and credentials once both servers listen, then serves until killed."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from .server import SandboxServer
from .settings import SandboxSettings


def _rate(text: str) -> tuple[float, int | None, bool]:
    """`2/50` → rate 2/s, burst 50; `5` → rate only; `off` → no bucket."""
    if text.strip().lower() in ("off", "none", "0"):
        return 0.0, None, False
    rate, _, burst = text.partition("/")
    return float(rate), (int(burst) if burst else None), True


def _method_cost(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        name, _, seconds = item.partition("=")
        out[name.strip().lower()] = float(seconds)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m b24app.sandbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the sandbox portal and its OAuth server")
    a = serve.add_argument
    a("--host", default="127.0.0.1")
    a("--port", type=int, default=0, help="portal port (0 = any free port)")
    a("--oauth-port", type=int, default=0, help="OAuth server port (0 = any free port)")
    a("--seed", type=int, default=1)
    a("--rows", type=int, default=500, help="generated voximplant.statistic.get rows")
    a("--calls-days", type=int, default=90)
    a("--calls-until", default=None, help="ISO date the generated history ends at (default: now)")
    a("--rate", default="2/50", help="leaky bucket as RATE/BURST (requests/s and burst), or 'off'")
    a("--burst", type=int, default=None, help="burst, overriding the one in --rate")
    a("--latency", type=float, default=0.0, help="seconds per HTTP request (half in, half out)")
    a("--call-cost", type=float, default=0.0, help="server seconds per (sub-)call, slept and billed")
    a("--method-cost", action="append", default=[], metavar="METHOD=SECONDS")
    a("--cost-per-row", type=float, default=0.0)
    a("--cost-per-offset-row", type=float, default=0.0)
    a("--cost-per-count-row", type=float, default=0.0)
    a("--operating-limit", type=float, default=480.0)
    a("--operating-window", type=float, default=600.0)
    a("--operating-min-fix", type=float, default=0.1)
    a("--no-operating", action="store_true", help="switch the operating-time budget off")
    a("--billing-key", choices=("method", "batch"), default="method")
    a("--key-rule", choices=("php", "strict"), default="php")
    a("--fail-503-share", type=float, default=0.0)
    a("--drop-events-share", type=float, default=0.0)
    a("--app-url", default=None)
    a("--install-path", default="/b24/install")
    a("--handler-path", default="/")
    a("--client-id", default="local.sandbox.0001")
    a("--client-secret", default="sandbox-secret")
    a("--webhook-token", default="sandboxhook")
    a("--token-ttl", type=int, default=3600)
    a("--scope", default=None, help="the app's scopes, comma-separated")
    a("--demo", action="store_true", help="start with the demo portal (people, CRM, recordings, calls)")
    a("--demo-calls", type=int, default=None, help="calls in the demo history (default 100000; implies --demo)")
    a("--voximplant-user-confirm", action="store_true",
      help="voximplant.user.get answers METHOD_CONFIRM_WAITING until POST /_sandbox/method-confirm")
    return parser


def settings_from(args: argparse.Namespace) -> SandboxSettings:
    rate, burst, enabled = _rate(args.rate)
    settings = SandboxSettings(
        host=args.host, port=args.port, oauth_port=args.oauth_port, seed=args.seed, rows=args.rows,
        calls_days=args.calls_days, calls_until=args.calls_until, rate=rate, rate_limit_enabled=enabled,
        latency=args.latency, call_cost=args.call_cost, method_cost=_method_cost(args.method_cost),
        cost_per_row=args.cost_per_row, cost_per_offset_row=args.cost_per_offset_row,
        cost_per_count_row=args.cost_per_count_row, operating_limit=args.operating_limit,
        operating_window=args.operating_window, operating_min_fix=args.operating_min_fix,
        operating_enabled=not args.no_operating, billing_key=args.billing_key, key_rule=args.key_rule,
        fail_503_share=args.fail_503_share, drop_events_share=args.drop_events_share, app_url=args.app_url,
        install_path=args.install_path, handler_path=args.handler_path, client_id=args.client_id,
        client_secret=args.client_secret, webhook_token=args.webhook_token, token_ttl=args.token_ttl,
    )
    if burst is not None:
        settings.burst = burst
    if args.burst is not None:
        settings.burst = args.burst
    if args.scope:
        settings.app_scope = args.scope
    if args.demo or args.demo_calls is not None:
        settings.demo = True
    if args.demo_calls is not None:
        settings.demo_calls = args.demo_calls
    settings.voximplant_user_confirm = args.voximplant_user_confirm
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = SandboxServer(settings_from(args)).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    s = server.settings
    print(json.dumps({"url": server.url, "oauth_url": server.oauth_url, "member_id": server.member_id,
                      "webhook_url": server.webhook_url, "client_id": s.client_id,
                      "client_secret": s.client_secret}), flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
