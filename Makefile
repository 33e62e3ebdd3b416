# Commands for a fresh machine that has only python3 and make:
#   make demo   runs the main job end to end, offline
#   make test   runs the whole suite
#   make bench  measures ours against the baselines (docs/benchmarks.md; minutes, best on an idle machine)
# Each creates .venv and installs the package pinned by constraints/py<major.minor>.txt.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYVER  := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
CONSTRAINTS := constraints/py$(PYVER).txt
STAMP  := $(VENV)/.installed-$(PYVER)

.PHONY: test demo demo-guard bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(wildcard constraints/*.txt)
	@test -f $(CONSTRAINTS) || { echo "No pinned constraints for Python $(PYVER): add $(CONSTRAINTS) (see docs/development.md)."; exit 4; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint $(CONSTRAINTS) --editable ".[test]"
	@touch $@

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(PY) scripts/demo.py

demo-guard: $(STAMP)
	$(PY) scripts/demo.py --regression

# Options go through BENCH_ARGS, e.g. make bench BENCH_ARGS="--quick --only dump-latency"
bench: $(STAMP)
	@$(PY) -c 'import matplotlib' 2>/dev/null || $(PY) -m pip install --quiet --constraint $(CONSTRAINTS) --editable ".[bench]"
	$(PY) benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .hypothesis
