.PHONY: setup demo test lint bench

setup:          ## install system packages, the virtualenv and translations
	scripts/setup.sh

demo: setup     ## the app with the built-in sandbox portal, open in a browser
	.venv/bin/flask --app wsgi sandbox

test:           ## every test, on SQLite and on PostgreSQL
	scripts/test.sh

lint:
	.venv/bin/ruff check .

bench: setup    ## throughput benchmarks (JSON on the last line of each)
	.venv/bin/pip install -q -r bench/requirements.txt
	.venv/bin/python bench/rest_throughput.py
	.venv/bin/python bench/import_history.py
	.venv/bin/python bench/demo_data.py
	.venv/bin/python bench/call_card.py
	.venv/bin/python bench/event_load.py
	.venv/bin/python bench/scoring.py
	.venv/bin/python bench/excel.py
	.venv/bin/python bench/distribution.py
