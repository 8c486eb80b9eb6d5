"""Hostile inputs (issue 17, item 8): bad input gets a one-line error, nothing partial is written,
nothing of the user's is destroyed, no hang, no silent wrong answer.

The cases come from ``tests/hostile/generators.py``. The default suite runs a fast subset: the
quick API cases in this process and a handful of CLI cases as subprocesses. Every other case
(the whole campaign, one test per case) is marked slow: ``pytest -m slow tests/test_hostile.py``
(``-k sdf3`` for one input class). ``python -m bench.robustness`` runs the same cases in parallel
and writes the table.
"""

from __future__ import annotations

import pytest

from hostile.base import build_base
from hostile.generators import all_cases
from hostile.runner import ApiWorker, InProcess, run_case, subprocess_env

#: The CLI cases of the fast subset: one per kind of promise.
FAST_CLI = {
    "model/pickled-code-in-state-dict/inspect",
    "data/header-declares-1e9-samples/simulate",
    "sdf3/billion-laughs-dtd/analyse",
    "output/user-folder-with-network-json/convert",
    "output/equal-to-input/analyse",
    "artifact/timesteps-zero/admit",
}

CASES = all_cases()
_API_QUICK = [c for c in CASES if c.quick and (c.cls == "api" or "/api" in c.name)]
FAST = [c for c in CASES if c.id in FAST_CLI] + _API_QUICK
SLOW = [c for c in CASES if c not in FAST]


@pytest.fixture(scope="module")
def env():
    return subprocess_env()


@pytest.fixture(scope="module")
def base(tmp_path_factory, env):
    return build_base(tmp_path_factory.mktemp("hostile-base"), env, timeout=120)


@pytest.fixture(scope="module")
def in_process(base):
    return InProcess(base)


@pytest.fixture(scope="module")
def worker(base, env, tmp_path_factory):
    w = ApiWorker(base, env)
    yield w
    w.close()


def _explain(record: dict) -> str:
    return (f"{record['id']}: {record['outcome']} — {record.get('detail', '')}\n"
            f"  command: {record.get('command', '')}\n  stderr: {record.get('stderr', '')[-1500:]}")


@pytest.mark.parametrize("case", FAST, ids=[c.id for c in FAST])
def test_hostile_fast(case, base, env, in_process, worker, tmp_path):
    # API snippets run in this process, except size cases: those run in the worker subprocess
    record = run_case(case, base, tmp_path, env=env, worker=in_process, fast_worker=worker)
    assert record["outcome"] in ("clean", "skipped"), _explain(record)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=[c.id for c in SLOW])
def test_hostile_campaign(case, base, env, worker, tmp_path):
    record = run_case(case, base, tmp_path, env=env, worker=worker)
    assert record["outcome"] in ("clean", "skipped"), _explain(record)
