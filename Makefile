# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all install bench bench-peers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pinned: the CPU build of torch 2.13.0 installs from local disk; unpinned pulls CUDA.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikeforge demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

test-all: $(STAMP)
	$(PY) -m pytest -n 2 -q -m ''

clean:
	rm -rf out .pytest_cache .hypothesis

# Benchmarks (figures to bench/results/*.json). Peers live in their own venv: sinabs pins an old nir.
bench: $(STAMP)
	$(PY) -m bench.conversion_quality
	$(PY) -m bench.dataflow_speed

bench-peers:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q -r bench/requirements-peers.txt
	.venv-bench/bin/python -m pip install -q -e .
	.venv-bench/bin/python -m bench.sim_speed
