#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL and Redis on loopback for the tests; prints their URLs.
# Usage: scripts/services.sh start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${SERVICES_DIR:-/tmp/cq-services}
PG_PORT=${PG_PORT:-54329}
REDIS_PORT=${REDIS_PORT:-63799}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  mkdir -p "$RUN"
  if [ "$(id -u)" = "0" ]; then chown postgres "$RUN" 2>/dev/null || true; chmod 777 "$RUN"; fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$RUN/pg" status >/dev/null 2>&1; then
    [ -d "$RUN/pg" ] || as_pg "$PGBIN/initdb" -D "$RUN/pg" -A trust -U postgres -E UTF8 >/dev/null
    as_pg "$PGBIN/pg_ctl" -D "$RUN/pg" -l "$RUN/pg.log" -w \
      -o "-p $PG_PORT -k $RUN -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  fi
  as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='cq_test'" \
    | grep -q 1 || as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres cq_test
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --logfile "$RUN/redis.log" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  echo "TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/cq_test"
  echo "TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  as_pg "$PGBIN/pg_ctl" -D "$RUN/pg" -m fast stop >/dev/null 2>&1 || true
  redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
}

"${1:-start}"
