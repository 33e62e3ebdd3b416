# Commands for a fresh machine that has only python3 and make:
#   make demo   runs the main job end to end, offline
#   make test   runs the whole suite on the newest supported Airflow, then on the floor (the oldest)
#   make bench  measures ours against the baselines (docs/benchmarks.md; minutes, best on an idle machine)
#   make bench-engines  the same for each vector engine (docs/benchmarks.md, "Engines"; an hour at full size)
# Each leg has its own venv with the package installed from its pinned constraints:
#   newest: .venv        from constraints/newest/py<major.minor>.txt (apache-airflow 3.3.x)
#   floor:  .venv-floor  from constraints/floor/py<major.minor>.txt  (apache-airflow 3.1.x)
# One leg alone: make test-newest, make test-floor.

PYTHON ?= python3
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')

VENV          ?= .venv
VENV_FLOOR    ?= .venv-floor
PY            := $(VENV)/bin/python
PY_FLOOR      := $(VENV_FLOOR)/bin/python
CONSTRAINTS   := constraints/newest/py$(PYVER).txt
CONSTRAINTS_FLOOR := constraints/floor/py$(PYVER).txt
STAMP         := $(VENV)/.installed-$(PYVER)
STAMP_FLOOR   := $(VENV_FLOOR)/.installed-$(PYVER)

.PHONY: test test-newest test-floor demo demo-guard bench bench-engines venv venv-floor clean

venv: $(STAMP)
venv-floor: $(STAMP_FLOOR)

# make-venv DIR, CONSTRAINTS: a fresh venv with the package (editable, test extra) pinned by CONSTRAINTS.
define make-venv
	@test -f $(2) || { echo "No pinned constraints for Python $(PYVER): add $(2) (see docs/development.md)."; exit 4; }
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --upgrade pip
	$(1)/bin/python -m pip install --quiet --constraint $(2) --editable ".[test]"
	@touch $@
endef

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(call make-venv,$(VENV),$(CONSTRAINTS))

$(STAMP_FLOOR): pyproject.toml $(CONSTRAINTS_FLOOR)
	$(call make-venv,$(VENV_FLOOR),$(CONSTRAINTS_FLOOR))

# Both legs, newest first; make stops at the first leg that fails.
test: test-newest test-floor

test-newest: $(STAMP)
	$(PY) -m pytest

# The cross-engine matrix runs no Airflow code, so the floor leg leaves it out (docs/testing.md).
test-floor: $(STAMP_FLOOR)
	$(PY_FLOOR) -m pytest -m "not matrix"

demo: $(STAMP)
	$(PY) scripts/demo.py

demo-guard: $(STAMP)
	$(PY) scripts/demo.py --regression

# Options go through BENCH_ARGS, e.g. make bench BENCH_ARGS="--quick --only dump-latency"
bench: $(STAMP)
	@$(PY) -c 'import matplotlib, pgvector, moto, s3fs' 2>/dev/null || $(PY) -m pip install --quiet --constraint $(CONSTRAINTS) --editable ".[bench]"
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# Issue 16: each engine's dump and restore against its own loops, e.g. BENCH_ARGS="--engines chroma --quick"
bench-engines: $(STAMP)
	$(PY) benchmarks/engines/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(VENV_FLOOR) demo-output .pytest_cache .hypothesis
