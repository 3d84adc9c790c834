#!/usr/bin/env bash
# Runs every test twice: against SQLite and against PostgreSQL (with Redis for the queue tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
eval "$(scripts/services.sh start | sed 's/^/export /')"
.venv/bin/ruff check .
echo "== dependency audit =="
.venv/bin/python scripts/audit.py
echo "== tests on SQLite =="
env -u TEST_DATABASE_URL .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
echo "== tests on PostgreSQL =="
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
