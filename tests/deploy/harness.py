"""The production deployment (the Procfile's web and workers, PostgreSQL, Redis) run as real processes.

Tests and benches bring it up the way an operator does: a fresh database, `flask db upgrade`, then
the Procfile's processes. Two ways to supervise them:

- ``supervisor="honcho"``: the literal command of the README, ``honcho start -c worker=2 -p PORT``,
  one honcho process that starts the others. As in production under honcho, when one
  process dies honcho stops all the others.
- ``supervisor="each"`` (default): the same processes, names, commands and environment, expanded
  from the Procfile by honcho's own code, each started by the harness in a session of its own, so
  one named process (``worker.1``) can be stopped, killed with SIGKILL and started again while the
  rest keep running; what a per-process supervisor (systemd, `honcho export`) does.

Typical use::

    with FreshDatabase(server_url) as database, Deployment(database.url, redis_url) as dep:
        dep.start()                 # db upgrade, then web.1, worker.1, worker.2; waits for /healthz
        dep.kill("worker.1")        # SIGKILL its whole process group
        dep.start_process("worker.1")
        dep.restart_redis()
        dep.scalar("SELECT count(*) FROM calls")
    # leaving the block stops every process (SIGTERM, then SIGKILL); dep.leftovers lists what outlived it
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import redis
import requests
from honcho.environ import expand_processes, parse_procfile
from honcho.process import Popen as HonchoPopen
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PROCFILE = ROOT / "Procfile"
# The production shape the README documents: one web (gunicorn with its own worker processes), two workers.
CONCURRENCY = {"web": 1, "worker": 2}
# What each process type prints once it serves: gunicorn's booted worker, huey's consumer loop.
READY = {"web": "Booting worker with pid", "worker": "Huey consumer started"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition", every: float = 0.2):
    """Poll `check` until it returns something true; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(every)


def sqlalchemy_url(url: str) -> str:
    """psycopg 3 is the driver, as in the app's config."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class FreshDatabase:
    """A new, empty database on the PostgreSQL server of `server_url`, dropped on close.

    The server's other databases (the shared test schema) are not touched.
    """

    def __init__(self, server_url: str, prefix: str = "cq_deploy"):
        self.name = f"{prefix}_{secrets.token_hex(4)}"
        self._admin = make_url(sqlalchemy_url(server_url))
        eng = create_engine(self._admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        eng.dispose()
        self.url = self._admin.set(database=self.name).render_as_string(hide_password=False)

    def drop(self) -> None:
        eng = create_engine(self._admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        eng.dispose()

    def __enter__(self) -> FreshDatabase:
        return self

    def __exit__(self, *exc) -> None:
        self.drop()


class PrivateRedis:
    """A Redis server of its own on a free loopback port (the arguments scripts/services.sh uses).

    For tests that restart Redis: the shared test server may be in use by another run on the machine.
    """

    def __init__(self, log_dir: Path | str | None = None):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        log_dir = Path(log_dir or Path(os.environ.get("TMPDIR", "/tmp")))
        log_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--daemonize", "yes", "--logfile", str(log_dir / f"redis-{self.port}.log")],
                       check=True, stdout=subprocess.DEVNULL)
        wait_until(lambda: _pings(self.url), 10, "redis starting")

    def stop(self) -> None:
        try:
            redis.Redis.from_url(self.url).shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # already down, or closed the connection as it went
        wait_until(lambda: not _pings(self.url), 10, "redis stopping")

    def __enter__(self) -> PrivateRedis:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Deployment:
    """The Procfile's processes against `database_url` and `redis_url`, on a free loopback port.

    The Redis database in `redis_url` is the deployment's own: it is emptied on start. `env` adds or
    overrides environment variables of every process (e.g. ``B24_RATE_LIMIT``); `concurrency`
    overrides the process counts (``{"worker": 3}``). Each process's output goes to
    ``log_dir/<name>.log`` (honcho's combined output to ``honcho.log``).
    """

    def __init__(self, database_url: str, redis_url: str, *, env: dict[str, str] | None = None,
                 concurrency: dict[str, int] | None = None, supervisor: str = "each",
                 log_dir: Path | str | None = None, procfile: Path = PROCFILE):
        if supervisor not in ("each", "honcho"):
            raise ValueError("supervisor is 'each' or 'honcho'")
        self.database_url, self.redis_url, self.supervisor = sqlalchemy_url(database_url), redis_url, supervisor
        self.procfile = Path(procfile)
        self.concurrency = {**CONCURRENCY, **(concurrency or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(log_dir) if log_dir else Path(os.environ.get("TMPDIR", "/tmp")) / f"cq-deploy-{self.port}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = self._environment(env or {})
        self._procs: dict[str, subprocess.Popen] = {}  # "each": name -> process (its own session)
        self._honcho: subprocess.Popen | None = None
        self._sessions: set[int] = set()  # every session we started; nothing may outlive stop()
        self.returncodes: dict[str, int | None] = {}
        self._markers_before: dict[str, int] = {}
        self.leftovers: list[int] = []  # pids still alive after stop() (then killed)
        self._engine = None

    # --- environment and processes ------------------------------------------------------------------

    def _environment(self, extra: dict[str, str]) -> dict[str, str]:
        # The test run's own settings (TEST_*, inline jobs, a SQLite path) must not leak into production processes.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TEST_", "JOBS_", "REDIS_", "DATABASE_", "HUEY_", "PYTEST_", "B24_", "WEB_",
                                    "WORKER_", "GUNICORN_"))}
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",  # the Procfile names `gunicorn` and `flask`
            "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url, "PUBLIC_URL": self.url,
            "SECRET_KEY": "deploy-" + secrets.token_hex(8), "WEB_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1",
        })
        env.update(extra)
        return env

    def _expanded(self) -> list:
        """The processes `honcho start -c … -p PORT` starts: names, commands, PORT (honcho's own expansion)."""
        types = parse_procfile(self.procfile.read_text()).processes
        return expand_processes(types, concurrency=self.concurrency, port=self.port)

    def names(self) -> list[str]:
        return [p.name for p in self._expanded()]

    def honcho_command(self) -> list[str]:
        """The README's command line (`honcho start -c worker=2 -p PORT`), run from the checkout."""
        counts = ",".join(f"{k}={v}" for k, v in self.concurrency.items() if v != 1)
        # `-e` names a file that does not exist: a developer's .env must not point the test elsewhere.
        cmd = [str(BIN / "honcho"), "start", "--no-colour", "-e", str(self.log_dir / "none.env"), "-p", str(self.port)]
        if self.procfile != PROCFILE:
            cmd += ["-f", str(self.procfile)]
        return cmd + (["-c", counts] if counts else [])

    # --- lifecycle -----------------------------------------------------------------------------------

    def release(self) -> None:
        """`flask --app wsgi db upgrade`, as the README runs it before every start."""
        out = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=180)
        if out.returncode != 0:
            raise RuntimeError("db upgrade failed:\n" + out.stderr[-4000:])

    def start(self, upgrade: bool = True, timeout: float = 60.0) -> Deployment:
        """Empty the Redis database, upgrade the schema, start every process, wait for /healthz."""
        redis.Redis.from_url(self.redis_url).flushdb()
        if upgrade:
            self.release()
        if self.supervisor == "honcho":
            with open(self.log_dir / "honcho.log", "ab") as log:  # the child keeps its own descriptor
                self._honcho = subprocess.Popen(self.honcho_command(), cwd=ROOT, env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
            self._sessions.add(self._honcho.pid)
            wait_until(lambda: len(self.pids()) == len(self.names()), timeout, "honcho starting every process")
            self._sessions.update(self.pids().values())
            wait_until(lambda: self.logs("honcho").count(READY["worker"]) >= self.concurrency["worker"], timeout,
                       f"every worker consuming (logs in {self.log_dir})")
        else:
            for name in self.names():
                self.start_process(name, wait=False)
            for name in self.names():
                wait_until(lambda n=name: self.ready(n), timeout, f"{name} ready (logs in {self.log_dir})")
        self.wait_healthy(timeout)
        return self

    def _markers(self, name: str) -> int:
        marker = READY.get(name.split(".", 1)[0])
        return self.logs(name).count(marker) if marker else 0

    def ready(self, name: str) -> bool:
        """True once the latest start of `name` serves (its log has gained its ready line)."""
        if not self.alive(name):
            return False
        return name.split(".", 1)[0] not in READY or self._markers(name) > self._markers_before.get(name, 0)

    def start_process(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> int:
        """Start (or start again) one named process, e.g. ``worker.1``, and wait until it is ready; its pid."""
        if self.supervisor != "each":
            raise RuntimeError("one process at a time needs supervisor='each' (honcho stops all when one stops)")
        if name in self._procs and self._procs[name].poll() is None:
            raise RuntimeError(f"{name} is running")
        [params] = [p for p in self._expanded() if p.name == name]
        env = {**self.env, **params.env}
        self._markers_before[name] = self._markers(name)  # logs are appended to across restarts
        with open(self.log_dir / f"{name}.log", "ab") as log:
            # honcho's own Popen: through the shell, in a new session, exactly as `honcho start` runs it.
            proc = HonchoPopen(params.cmd, env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT)
        self._procs[name] = proc
        self._sessions.add(proc.pid)
        self.returncodes.pop(name, None)
        if wait:
            wait_until(lambda: self.ready(name), timeout, f"{name} ready (logs in {self.log_dir})")
        return proc.pid

    @property
    def honcho_pid(self) -> int | None:
        return self._honcho.pid if self._honcho is not None else None

    def pids(self) -> dict[str, int]:
        """Name -> pid of each process started (the Procfile command's own pid, its group's leader)."""
        if self.supervisor == "each":
            return {name: p.pid for name, p in self._procs.items()}
        try:
            out = (self.log_dir / "honcho.log").read_text(errors="replace")
        except FileNotFoundError:
            return {}
        return {m[1]: int(m[2]) for m in re.finditer(r"\|\s*(\S+) started \(pid=(\d+)\)", out)}

    def alive(self, name: str) -> bool:
        pid = self.pids().get(name)
        if pid is None:
            return False
        proc = self._procs.get(name)
        if proc is not None:
            return proc.poll() is None
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def group(self, name: str) -> list[psutil.Process]:
        """The processes of one named process's group (gunicorn's master and its workers, …)."""
        sid = self.pids()[name]
        return [p for p in psutil.process_iter() if _sid(p.pid) == sid]

    def signal(self, name: str, sig: int) -> None:
        """Send `sig` to every process in the named process's group."""
        try:
            os.killpg(self.pids()[name], sig)
        except ProcessLookupError:
            pass

    def kill(self, name: str) -> None:
        """SIGKILL the named process and everything in its group (gunicorn's workers die with their master)."""
        self.signal(name, signal.SIGKILL)
        self._wait_group(name, 10)
        self._reap(name)

    def stop_process(self, name: str, timeout: float = 30.0, *, signalled: bool = False) -> int | None:
        """SIGTERM the named process's group, SIGKILL what is left after `timeout`; returns its exit code."""
        if not signalled:
            self.signal(name, signal.SIGTERM)
        if not self._wait_group(name, timeout):
            self.signal(name, signal.SIGKILL)
            self._wait_group(name, 10)
        return self._reap(name)

    def restart(self, name: str) -> int:
        self.stop_process(name)
        return self.start_process(name)

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """Stop every process (honcho: SIGTERM to honcho, which stops its children); returns exit codes."""
        if self.supervisor == "honcho" and self._honcho is not None:
            self._honcho.send_signal(signal.SIGTERM)
            try:
                self.returncodes["honcho"] = self._honcho.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self._honcho.pid, signal.SIGKILL)
                self.returncodes["honcho"] = self._honcho.wait(10)
            out = (self.log_dir / "honcho.log").read_text(errors="replace")
            for m in re.finditer(r"\|\s*(\S+) stopped \(rc=(-?\d+)\)", out):
                self.returncodes[m[1]] = int(m[2])
        else:
            running = [name for name, p in self._procs.items() if p.poll() is None]
            for name in running:  # all at once, then wait: the shutdowns overlap
                self.signal(name, signal.SIGTERM)
            for name in running:
                self.stop_process(name, timeout, signalled=True)
        # What outlived the stop is recorded for the caller to assert on, then killed, so a failing
        # test leaves nothing running on the machine.
        self.leftovers = [p.pid for p in self.orphans()]
        for sid in {_sid(pid) for pid in self.leftovers} - {None}:
            try:
                os.killpg(sid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._engine is not None:
            self._engine.dispose()
        return dict(self.returncodes)

    def orphans(self) -> list[psutil.Process]:
        """Processes still alive in any session this deployment started (should be none after stop)."""
        return [p for p in psutil.process_iter() if _sid(p.pid) in self._sessions and _running(p)]

    def _wait_group(self, name: str, timeout: float) -> bool:
        sid = self.pids()[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._procs.get(name)
            if proc is not None:
                proc.poll()  # reap the leader, or it stays a zombie in its own group
            if not [p for p in psutil.process_iter() if _sid(p.pid) == sid and _running(p)]:
                return True
            time.sleep(0.1)
        return False

    def _reap(self, name: str) -> int | None:
        proc = self._procs.get(name)
        if proc is not None:
            try:
                self.returncodes[name] = proc.wait(10)
            except subprocess.TimeoutExpired:
                self.returncodes[name] = None
        return self.returncodes.get(name)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        def up():
            try:
                return requests.get(self.url + "/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, timeout, f"web answering on {self.url} (logs in {self.log_dir})")

    def logs(self, name: str) -> str:
        path = self.log_dir / ("honcho.log" if self.supervisor == "honcho" else f"{name}.log")
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- Redis ----------------------------------------------------------------------------------------

    def restart_redis(self, down_for: float = 0.0) -> None:
        """Shut the Redis server down (nothing saved, as scripts/services.sh runs it) and start it again.

        The server is the one in `redis_url`, on loopback; it comes back empty, with the arguments
        scripts/services.sh gives it.
        """
        port = urlsplit(self.redis_url).port or 6379
        client = redis.Redis.from_url(self.redis_url)
        logfile = client.config_get("logfile").get("logfile") or ""
        try:
            client.shutdown(nosave=True)
        except redis.ConnectionError:
            pass  # the server closes the connection as it goes
        wait_until(lambda: not _pings(self.redis_url), 10, "redis stopping")
        time.sleep(down_for)
        args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "yes"]
        if logfile:
            args += ["--logfile", logfile]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        wait_until(lambda: _pings(self.redis_url), 10, "redis starting")

    # --- the database ---------------------------------------------------------------------------------

    @property
    def engine(self):
        if self._engine is None:
            self._engine = create_engine(self.database_url, pool_size=2)
        return self._engine

    def query(self, sql: str, **params) -> list:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params))

    def scalar(self, sql: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    # --- the portal -----------------------------------------------------------------------------------

    def install(self, sandbox_url: str, timeout: float = 60.0) -> dict:
        """Install the app through the portal's own flow (install POST, then installFinish)."""
        r = requests.post(f"{sandbox_url}/_sandbox/install", json={"finish": True, "app_url": self.url},
                          timeout=timeout)
        r.raise_for_status()
        body = r.json()
        if body.get("install_status") != 200:
            raise AssertionError(f"install answered {body.get('install_status')}: {body}")
        return body

    def wait_import_done(self, timeout: float = 60.0) -> int:
        """Wait for the history import to finish; returns the rows it imported."""

        def done():
            rows = self.query("SELECT status, rows_done, error FROM call_import_runs ORDER BY id DESC LIMIT 1")
            if rows and rows[0][0] == "failed":
                raise AssertionError(f"history import failed: {rows[0][2]}")
            return rows and rows[0][0] == "done" and (rows[0][1],)

        return wait_until(done, timeout, "the history import finishing")[0]

    def qa_items(self, webhook_url: str) -> dict[str, list[int]]:
        """The QA smart process's cards in the portal, by call ID (a call with two cards has two IDs)."""
        entity_type_id, fields = self.query("SELECT entity_type_id, fields FROM qa_setup")[0]
        call_field = fields["call_id"]
        out: dict[str, list[int]] = {}
        start = 0
        while start is not None:
            r = requests.post(webhook_url + "crm.item.list", json={
                "entityTypeId": entity_type_id, "useOriginalUfNames": "Y", "select": ["id", call_field],
                "start": start}, timeout=30)
            r.raise_for_status()
            body = r.json()
            for item in body["result"]["items"]:
                out.setdefault(str(item.get(call_field)), []).append(int(item["id"]))
            start = body.get("next")
        return out

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def live_call(sandbox_url: str, user_id: int, phone: str, *, answered: bool = True, talk_seconds: int = 60,
              direction: str = "outgoing") -> str:
    """One call through the portal's telephony: CALLINIT, CALLSTART when answered, CALLEND; its CALL_ID.

    The portal fires each event to the app from a thread of its own, as the real one delivers them.
    """
    def post(path: str, body: dict | None = None) -> dict:
        r = requests.post(f"{sandbox_url}/_sandbox/phone{path}", json=body or {}, timeout=30)
        r.raise_for_status()
        return r.json()

    call_id = post("/start", {"user_id": user_id, "phone": phone, "direction": direction})["call_id"]
    if answered:
        post(f"/{call_id}/answer")
        post(f"/{call_id}/hangup", {"talk_seconds": talk_seconds})
    else:
        post(f"/{call_id}/miss")
    return call_id


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _running(p: psutil.Process) -> bool:
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False
