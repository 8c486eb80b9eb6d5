# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-all test-isa install bench bench-peers clean browser

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# Pinned: the CPU build of torch 2.13.0 installs from local disk; unpinned pulls CUDA.
	$(PY) -m pip install -q torch==2.13.0
	# the sanafe extra (GPL-3.0, optional for users) so that tests/backends run the SANA-FE cross-check;
	# the search extra (Dask, Optuna) so that tests/explore run the cluster and the NSGA-II search
	$(PY) -m pip install -q -e '.[test,sanafe,search]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/spikeforge demo --out out/demo

test: $(STAMP)
	$(PY) -m pytest -n 2 -q

test-all: $(STAMP)
	$(PY) -m pytest -n 2 -q -m ''

# The tests whose figures come from float arithmetic, again on torch's and oneDNN's SSE4.1 code
# paths (which any x86-64 CPU runs): no figure may depend on how one instruction set rounds. CI
# runs it after `make test`. Another emulation: make test-isa ISA_ENV='ATEN_CPU_CAPABILITY=avx2
# ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2'.
ISA_ENV ?= ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2
NUMERIC_TESTS := tests/test_golden.py tests/sim tests/convert tests/quantize tests/cli/test_quantize_commands.py \
	tests/frontends tests/test_pipeline.py tests/explore tests/cli/test_explore_commands.py tests/apps \
	src/spikeforge/sim src/spikeforge/convert src/spikeforge/quantize
test-isa: $(STAMP)
	env $(ISA_ENV) $(PY) -c "import os, torch; want = os.environ.get('ATEN_CPU_CAPABILITY', ''); \
	got = torch.backends.cpu.get_cpu_capability(); print('torch CPU capability:', got); \
	assert got.lower() == want.lower() or not want, f'ATEN_CPU_CAPABILITY={want} had no effect'"
	env $(ISA_ENV) $(PY) -m pytest -n 2 -q $(NUMERIC_TESTS)

clean:
	rm -rf out .pytest_cache .hypothesis

# Headless Chromium for the report's browser tests (tests/report, skipped without it): Debian's
# package, installed when missing and we are root; Playwright's own browser download is never used.
browser:
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	{ test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	echo "no chromium and not root: the report's browser tests will be skipped"

# Benchmarks (figures to bench/results/*.json). Peers live in their own venv: sinabs pins an old nir.
bench: $(STAMP)
	$(PY) -m bench.conversion_quality
	$(PY) -m bench.dataflow_speed
	$(PY) -m bench.cli_startup

bench-peers:
	test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q -r bench/requirements-peers.txt
	.venv-bench/bin/python -m pip install -q -e .
	.venv-bench/bin/python -m bench.sim_speed
