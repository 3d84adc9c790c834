"""Command-line entry points: `flask --app wsgi worker`, `… sandbox`, `… purge`."""

from __future__ import annotations

import logging
import os

import click
from flask import Flask


def init_app(app: Flask) -> None:
    from .reports import cli as report_cli
    report_cli.init_app(app)
    from .routing import cli as routing_cli
    routing_cli.init_app(app)

    @app.cli.command("worker")
    @click.option("--workers", default=4, show_default=True, help="Worker threads in this process.")
    @click.option("--nice", "niceness", default=0, show_default=True, type=click.IntRange(0, 19),
                  help="Lower this process's CPU priority by N, so web processes on the same host answer first.")
    def worker(workers: int, niceness: int) -> None:
        """Run the job consumer with its periodic tasks."""
        from .jobs import huey, run_worker_start

        if huey.immediate:
            raise click.ClickException("JOBS_IMMEDIATE=1 runs jobs inline; a worker has nothing to consume.")
        if niceness:
            _lower_priority(niceness)
        # The consumer's start, its tasks and their failures to stderr, where a process manager
        # (honcho, systemd) collects them; without a handler only warnings would show.
        if not logging.getLogger().handlers:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                        check_worker_health=True)
        # Before consuming: e.g. an import whose worker died (this one, restarted) resumes now, not at
        # the next periodic tick.
        run_worker_start()
        consumer.run()

    @app.cli.command("purge")
    def purge() -> None:
        """Delete data of portals uninstalled longer ago than the retention period."""
        from .portals.lifecycle import purge_due_portals

        for member_id in purge_due_portals():
            click.echo(f"purged {member_id}")

    @app.cli.command("sandbox")
    @click.option("--port", default=5000, show_default=True, help="First port to try for the app.")
    @click.option("--no-browser", is_flag=True, help="Do not open a browser.")
    def sandbox(port: int, no_browser: bool) -> None:
        """Start the demo: the app, the built-in sandbox portal, install, and print the URL."""
        from .demo import run_demo

        run_demo(port, open_browser=not no_browser)


def _lower_priority(niceness: int) -> None:
    """Make this process yield the CPU to the web processes while both have work.

    Before the consumer starts its threads, which inherit it. On Linux with autogroup scheduling
    every session (each process honcho or a service manager starts) is a group of its own, and a
    thread's nice value only ranks it inside its group; the group's value ranks it against the
    other groups. So a worker that leads its own session sets that too (a worker started from a
    terminal shares the terminal's group, which is left as it is).
    """
    os.nice(niceness)
    if os.getsid(0) != os.getpid():
        return
    try:
        with open("/proc/self/autogroup", "w") as f:
            f.write(str(niceness))
    except OSError:
        pass  # no autogroup scheduling here: the process's nice value is what counts
