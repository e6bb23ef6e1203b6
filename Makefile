# Two commands: `make demo` runs the main job on bundled data, `make test`
# runs the tests. Both create .venv and install the locked stack first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed
# The BigQuery emulator lives in its own virtualenv: its pins conflict with TFDV's.
BQEMU_VENV := .venv-bqemu
BQEMU_INSTALLED := $(BQEMU_VENV)/.installed
# Apache Airflow (make schedule-demo, tests/test_airflow.py) in its own
# virtualenv: its pins are not the jobs' stack.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_INSTALLED := $(AIRFLOW_VENV)/.installed

.PHONY: install demo test lock bench clean bqemulator bqemu-lock chromium flink \
	airflow airflow-lock schedule-demo

install: $(INSTALLED)

$(INSTALLED): requirements.lock setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --python $(PY) --quiet --compile-bytecode -r requirements.lock
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	@touch $@

demo: $(INSTALLED)
	@bash scripts/demo.sh

test: $(INSTALLED) $(BQEMU_INSTALLED) $(AIRFLOW_INSTALLED) chromium flink
	$(PY) -m pytest -q tests

# Beam's Flink job server, built from Maven Central into
# ~/.cache/beam-data-validation/flink (runner=flink). Never fails the build:
# without Maven Central the Flink tests skip and say why.
flink:
	@bash scripts/flink/fetch.sh >/dev/null || echo "the Flink job server could not be built: the Flink tests will be skipped"

# Debian's Chromium for the report's browser test, installed when missing and
# we may (root with apt-get); otherwise that one test skips and says why.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test ..."; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && \
	      DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; } || \
	    echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium missing (needs root + apt-get): the browser test will be skipped"; fi; }

$(BQEMU_INSTALLED): scripts/bqemulator/requirements.lock $(INSTALLED)
	@test -x $(BQEMU_VENV)/bin/python || $(PYTHON) -m venv $(BQEMU_VENV)
	$(UV) pip install --python $(BQEMU_VENV)/bin/python --quiet -r scripts/bqemulator/requirements.lock
	@touch $@

# A BigQuery emulator on http://127.0.0.1:9050 (Ctrl-C stops it).
bqemulator: $(BQEMU_INSTALLED)
	$(BQEMU_VENV)/bin/python scripts/bqemulator/serve.py start --rest-port 9050 --grpc-port 9060

airflow: $(AIRFLOW_INSTALLED)

$(AIRFLOW_INSTALLED): scripts/airflow/requirements.lock $(INSTALLED)
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(UV) pip install --python $(AIRFLOW_VENV)/bin/python --quiet -r scripts/airflow/requirements.lock
	@touch $@

# Real Airflow backfills three spans of the bundled data (DirectRunner) and
# prints the states it recorded per DAG run (scripts/schedule/demo.sh).
schedule-demo: $(INSTALLED) $(AIRFLOW_INSTALLED)
	@bash scripts/schedule/demo.sh

airflow-lock:
	$(UV) pip compile scripts/airflow/requirements.in --python-version 3.11 --quiet -o scripts/airflow/requirements.lock

bqemu-lock:
	$(UV) pip compile scripts/bqemulator/requirements.in --python-version 3.11 --quiet -o scripts/bqemulator/requirements.lock

# Re-resolve the pinned stack after editing requirements.in.
lock:
	$(UV) pip compile requirements.in --python-version 3.11 --quiet -o requirements.lock

bench: $(INSTALLED)
	$(PY) scripts/benchmark.py

clean:
	rm -rf $(VENV) $(BQEMU_VENV) $(AIRFLOW_VENV) artifacts
