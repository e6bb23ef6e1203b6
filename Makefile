# Two commands: `make demo` runs the main job on bundled data, `make test`
# runs the tests. Both create .venv and install the locked stack first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
INSTALLED := $(VENV)/.installed

.PHONY: install demo test lock bench clean

install: $(INSTALLED)

$(INSTALLED): requirements.lock setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --python $(PY) --quiet --compile-bytecode -r requirements.lock
	$(UV) pip install --python $(PY) --quiet --no-deps -e .
	@touch $@

demo: $(INSTALLED)
	@bash scripts/demo.sh

test: $(INSTALLED)
	$(PY) -m pytest -q tests

# Re-resolve the pinned stack after editing requirements.in.
lock:
	$(UV) pip compile requirements.in --python-version 3.11 --quiet -o requirements.lock

bench: $(INSTALLED)
	$(PY) scripts/benchmark.py

clean:
	rm -rf $(VENV) artifacts
