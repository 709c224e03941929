# Two entry points: `make run` (demo lake + service) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LAKE ?= lake
HOST ?= 127.0.0.1
PORT ?= 8000
FLIGHT_PORT ?= 8815

.PHONY: install run demo-lake test test-all test-browser browser-install test-spark bench bench-smoke bench-history crash race clean-demo flightsql-proto

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# A small lake to try things on: 1,000 ICPs x 14 days, and two published algorithm runs
# over the same window with different outputs; built once.
# Built aside and moved into place, so an interrupted build is never taken for a ready lake.
$(LAKE)/lake.json: | install
	rm -rf $(LAKE).tmp
	$(BIN)/meterlake --lake $(LAKE).tmp generate --icps 1000 --days 14 --start 2018-06-01 --seed 42
	$(BIN)/meterlake --lake $(LAKE).tmp runs demo --count 2 --seed 42
	mv $(LAKE).tmp $(LAKE)

demo-lake: $(LAKE)/lake.json

run: demo-lake
	$(BIN)/meterlake --lake $(LAKE) serve --host $(HOST) --port $(PORT) --flight-port $(FLIGHT_PORT)

# Chromium for the browser tests of /ui/, from Debian's packages (never a browser download).
# Where it cannot be installed (no apt-get, not root, no registry) this says so and succeeds:
# the browser tests are then skipped, saying that no browser was found.
CHROMIUM ?= /usr/bin/chromium
browser-install:
	@if [ -x $(CHROMIUM) ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "browser-install: installing Debian's chromium package"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	    || echo "browser-install: apt-get could not install chromium; the browser tests will be skipped"; \
	else echo "browser-install: no apt-get as root here; the browser tests will be skipped"; fi

# The Spark suite needs the `spark` extra: it runs in `make test-spark`, not here. The
# browser-marked tests run in `make test-browser`; one short browser test runs here.
test: install browser-install
	$(BIN)/python -m pytest -m "not slow and not browser" --ignore=tests/spark

# Every test of the /ui/ pages in headless Chromium; a missing browser fails here.
test-browser: install browser-install
	METERLAKE_REQUIRE_BROWSER=1 $(BIN)/python -m pytest tests/service/test_ui_browser.py

test-all: install browser-install
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	$(BIN)/python -m pytest

# PySpark in local mode on a generated lake, against DuckDB's views (docs/spark.md).
# Installs the spark extra (pyspark carries its jars; Java 17 must be on the PATH).
test-spark: install
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	$(BIN)/python -m pytest -m spark tests/spark

# The speed targets of issue 5: 100k ICPs x 14 days with PostgreSQL 15 side by side, then query 1
# and the bulk stream at 500k ICPs (over an hour on 2 cores, ~40 GB of temporary disk); writes
# bench/results/ and the table in docs/performance.md. BENCH_ARGS passes options (--large-icps 0,
# --postgres skip, --icps ...). bench-smoke runs every step at a tiny scale in about a minute.
BENCH_ARGS ?=
bench: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py --docs docs/performance.md $(BENCH_ARGS)

bench-smoke: install
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/run.py --smoke --out /tmp/meterlake-bench-smoke.json

# Serving against the length of history: 20k ICPs x 365 days (25 earlier runs) against 20k x
# 14 days; query 1, query 4, a 1-day delivery, a publish and serving bytes, with the ratios
# (bench/results/history-*.json). About an hour on 2 cores; make test runs a tiny version.
HISTORY_ARGS ?=
bench-history: install
	$(BIN)/python bench/history.py $(HISTORY_ARGS)

# Kill every kind of writer at random moments and check the lake after each kill: 1,000
# trials on a local folder, then 200 on SeaweedFS; then the faults that are not crashes: a
# full disk (a tmpfs, as root) at FAULT_POINTS budgets per write under a local lake and
# FAULT_STORE_POINTS under a store lake's local side, and FAULT_STORE_TRIALS writes through a
# proxy that fails store requests. Recorded in docs/reliability.md.
CRASH_TRIALS ?= 1000
CRASH_STORE_TRIALS ?= 200
FAULT_POINTS ?= 25
FAULT_STORE_POINTS ?= 8
FAULT_STORE_TRIALS ?= 40
crash: install
	$(BIN)/python bench/crash_harness.py --trials $(CRASH_TRIALS) --seed 1 --json /tmp/meterlake-crash.json
	$(BIN)/python bench/crash_harness.py --trials $(CRASH_STORE_TRIALS) --seed 2 --store --json /tmp/meterlake-crash-store.json
	$(BIN)/python bench/fault_disk.py --points $(FAULT_POINTS) --seed 1 --json /tmp/meterlake-diskfull.json
	$(BIN)/python bench/fault_disk.py --points $(FAULT_STORE_POINTS) --seed 2 --store --json /tmp/meterlake-diskfull-store.json
	$(BIN)/python bench/fault_store.py --trials $(FAULT_STORE_TRIALS) --seed 1 --json /tmp/meterlake-storefaults.json

# Two processes (as two hosts) racing run transitions and ingests on one lake, local and on
# SeaweedFS, 50 rounds each (make test runs 5); see docs/reliability.md, "Commits".
RACE_ROUNDS ?= 50
race: install
	METERLAKE_RACE_ROUNDS=$(RACE_ROUNDS) $(BIN)/python -m pytest -s tests/datalake/test_races.py

clean-demo:
	rm -rf $(LAKE)

# Flight SQL's protocol messages: service/flight/FlightSql_pb2.py, generated from Apache Arrow's
# format/FlightSql.proto (the copy beside it). Only this step needs grpcio-tools (its protoc); the
# service needs the protobuf runtime alone.
flightsql-proto: install
	$(BIN)/pip install --quiet 'grpcio-tools==1.85.1'
	cd service/flight && ../../$(BIN)/python -m grpc_tools.protoc -I. --python_out=. FlightSql.proto
