"""Co-design at scale: the Dask engine, the shared cache under concurrent writers, the NSGA-II
search (resume, extend), the extra hardware axes, and nothing lost when a worker or the driver is
killed mid-run."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from spikeforge.convert.normalise import convert
from spikeforge.datasets import digits, save_data
from spikeforge.errors import (
    DesignSpaceError,
    InvalidDataError,
    InvalidHardwareSpecError,
    MissingDependencyError,
    OutputPathError,
    ResourceError,
    UnknownStrategyError,
)
from spikeforge.explore import SimulationCache, pareto_mask, sweep
from spikeforge.explore import engine as engine_module
from spikeforge.explore.engine import DaskEngine, InProcess, make_engine
from spikeforge.explore.search import hypervolume
from spikeforge.frontends.torch_fx import import_torch
from spikeforge.ir.serialize import save_network
from spikeforge.models import build_model

needs_dask = pytest.mark.skipif(not engine_module.dask_available(),
                                reason="distributed not installed (pip install 'spikeforge[search]')")
try:
    import optuna
    HAVE_OPTUNA = True
except ImportError:
    HAVE_OPTUNA = False
needs_optuna = pytest.mark.skipif(not HAVE_OPTUNA, reason="optuna not installed (pip install 'spikeforge[search]')")


@pytest.fixture(scope="module")
def snn():
    torch.manual_seed(0)
    model, shape = build_model("digits-cnn")
    return convert(import_torch(model.eval(), shape, name="digits-cnn"), digits("train").x[:64])


@pytest.fixture(scope="module")
def data():
    test = digits("test")
    return test.x[:12], test.y[:12]


@pytest.fixture(scope="module")
def cluster():
    if not engine_module.dask_available():
        pytest.skip("distributed not installed (pip install 'spikeforge[search]')")
    with DaskEngine(2) as engine:
        yield engine


GRID = {"bits": [2, 8], "timesteps": [2, 4], "pes": [4, 64], "knobs": {"ops_per_cycle_per_pe": [6, 12]}}


def figures(result):
    return {e.point: (e.accuracy, e.latency_s, e.energy_j, e.synops, e.effective_gops) for e in result.evaluations}


@needs_dask
def test_dask_grid_equals_in_process_and_writes_every_point(snn, data, cluster, tmp_path):
    x, y = data
    local = sweep(snn, x, y, quiet=True, **GRID)
    spread = sweep(snn, x, y, quiet=True, engine=cluster, cache=SimulationCache(tmp_path), **GRID)
    assert figures(spread) == figures(local) and len(local.evaluations) == 16
    assert (spread.simulations, spread.evaluated) == (4, 16)
    assert len(list(tmp_path.glob("*.json"))) == 16 and len(list(tmp_path.glob("*.npz"))) == 4
    again = sweep(snn, x, y, quiet=True, engine=cluster, cache=SimulationCache(tmp_path), **GRID)
    assert (again.simulations, again.evaluated, again.cache_hits) == (0, 0, 4)
    assert figures(again) == figures(local)


def test_concurrent_writers_share_one_cache_folder(snn, data, tmp_path):
    x, y = data
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda _: sweep(snn, x, y, quiet=True, cache=SimulationCache(tmp_path), **GRID),
                             range(3)))
    assert figures(runs[0]) == figures(runs[1]) == figures(runs[2])
    for path in tmp_path.glob("*.json"):  # every entry whole, whoever renamed it last
        assert set(json.loads(path.read_text())["figures"]) >= {"accuracy", "latency_s"}
    after = sweep(snn, x, y, quiet=True, cache=SimulationCache(tmp_path), **GRID)
    assert after.evaluated == 0 and figures(after) == figures(runs[0])


def test_knobs_change_the_model_and_label(snn, data):
    x, y = data
    r = sweep(snn, x, y, bits=[8], timesteps=[4], pes=[16], quiet=True,
              knobs={"ops_per_cycle_per_pe": [6, 24], "event_dispatch_cycles": [1, 0.25]})
    assert len(r.evaluations) == 4
    by = {e.point.knobs: e for e in r.evaluations}
    slow = by[(("event_dispatch_cycles", 1.0), ("ops_per_cycle_per_pe", 6.0))]
    fast = by[(("event_dispatch_cycles", 0.25), ("ops_per_cycle_per_pe", 24.0))]
    assert fast.latency_s < slow.latency_s and fast.accuracy == slow.accuracy
    assert "ops_per_cycle_per_pe=24" in fast.point.label


def test_knob_errors(snn, data):
    x, y = data
    with pytest.raises(DesignSpaceError, match="hardware axis 'placer': accelerator pynq-z2-accel has none"):
        sweep(snn, x, y, bits=[8], timesteps=[2], knobs={"placer": ["greedy"]}, quiet=True)
    with pytest.raises(InvalidHardwareSpecError, match=r"ops_per_cycle_per_pe\[1\] = 0: must be a number > 0"):
        sweep(snn, x, y, bits=[8], timesteps=[2], knobs={"ops_per_cycle_per_pe": [6, 0]}, quiet=True)
    with pytest.raises(DesignSpaceError, match="on_chip_memory_kib: 64.0 given more than once"):
        sweep(snn, x, y, bits=[8], timesteps=[2], knobs={"on_chip_memory_kib": [64, 64.0]}, quiet=True)
    with pytest.raises(DesignSpaceError, match="search 'random': unknown"):
        sweep(snn, x, y, bits=[8], timesteps=[2], search="random", quiet=True)


def test_engine_errors(monkeypatch):
    assert isinstance(make_engine(0), InProcess)
    if engine_module.dask_available():
        with pytest.raises(ResourceError, match=r"Dask scheduler tcp://127.0.0.1:9: cannot connect"):
            DaskEngine(scheduler="tcp://127.0.0.1:9", timeout_s=1)
    monkeypatch.setattr(engine_module, "dask_available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"distributed is not installed; pip install 'spikeforge\[search\]'"):
        make_engine(2)
    assert engine_module.default_workers() == 0


SPACE = {"bits": [2, 4, 8], "timesteps": [2, 4, 8], "pes": [2, 8, 64],
         "knobs": {"ops_per_cycle_per_pe": [6, 12]}}  # 54 points


@needs_optuna
def test_nsga2_search_resumes_and_extends(snn, data, tmp_path):
    x, y = data
    kw = dict(search="nsga2", population=6, quiet=True, **SPACE)
    first = sweep(snn, x, y, trials=12, cache=SimulationCache(tmp_path), **kw)
    grid = figures(sweep(snn, x, y, quiet=True, **SPACE))
    assert set(figures(first).items()) <= set(grid.items())  # the same figures as the grid's points
    assert first.evaluated == len(first.evaluations) + len(first.infeasible) <= 12
    again = sweep(snn, x, y, trials=12, cache=SimulationCache(tmp_path), **kw)
    assert again.evaluated == 0 and figures(again) == figures(first)  # resumed: nothing new to run
    more = sweep(snn, x, y, trials=30, cache=SimulationCache(tmp_path), **kw)
    assert set(figures(first)) <= set(figures(more))
    assert more.evaluated == len(more.evaluations) + len(more.infeasible) - len(first.evaluations)
    assert {e.point for e in more.front} <= set(figures(more))
    (journal,) = tmp_path.glob("study-*.log")
    study = optuna.load_study(study_name="codesign", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    assert len(study.trials) == 30 and len(study.directions) == 4


@needs_optuna
def test_nsga2_stops_once_every_point_of_the_space_is_seen(snn, data):
    x, y = data
    tiny = {"bits": [8], "timesteps": [2], "pes": [4, 8]}
    result = sweep(snn, x, y, search="nsga2", population=2, trials=10**12, quiet=True, **tiny)
    assert {e.point.pes for e in result.evaluations} == {4, 8}


def _journal_of_a_run(snn, data, folder):
    x, y = data
    kw = {"search": "nsga2", "population": 2, "trials": 2, "quiet": True, "bits": [8], "timesteps": [2],
          "pes": [4, 8]}
    sweep(snn, x, y, cache=SimulationCache(folder), **kw)
    (journal,) = folder.glob("study-*.log")
    return journal, lambda: sweep(snn, x, y, cache=SimulationCache(folder), **kw)


@needs_optuna
def test_a_journal_that_is_a_link_is_refused_and_its_target_untouched(snn, data, tmp_path):
    journal, rerun = _journal_of_a_run(snn, data, tmp_path / "cache")
    thesis = tmp_path / "thesis.tex"
    thesis.write_text("my thesis")
    journal.unlink()
    journal.symlink_to(thesis)
    with pytest.raises(DesignSpaceError, match=r"study-.*\.log: not a regular file \(a link, folder or device\)"):
        rerun()
    assert thesis.read_text() == "my thesis"


@needs_optuna
@pytest.mark.parametrize("damage", [b"\xff\xfe not utf-8\n", b"{ not json\n", b'{"op_code": 0}\n'])
def test_a_damaged_journal_is_one_line_naming_it(snn, data, tmp_path, damage):
    journal, rerun = _journal_of_a_run(snn, data, tmp_path / "cache")
    journal.write_bytes(damage + journal.read_bytes())
    with pytest.raises(DesignSpaceError, match=r"search journal .*study-.*\.log: damaged \(\w+\); delete it") as info:
        rerun()
    assert "\n" not in str(info.value)


def _files(folder):
    return {p.name: p.read_bytes() for p in folder.glob("*.json")} if folder.is_dir() else {}


def _wait(predicate, proc, what):
    while not predicate():
        if proc.poll() is not None:
            pytest.fail(f"codesign ended (status {proc.returncode}) before {what}")
        time.sleep(0.05)


@needs_dask
@pytest.mark.parametrize("search", ["grid", "nsga2"])
def test_killed_worker_and_driver_lose_no_finished_point(snn, tmp_path, search):
    if search == "nsga2" and not HAVE_OPTUNA:
        pytest.skip("optuna not installed (pip install 'spikeforge[search]')")
    psutil = pytest.importorskip("psutil")
    save_network(snn, tmp_path / "snn")
    save_data(tmp_path / "test.npz", digits("test").take(12))
    cache = tmp_path / "cache"
    pes = ",".join(str(p) for p in range(1, 65))
    cmd = [sys.executable, "-m", "spikeforge.cli", "codesign", str(tmp_path / "snn"), "--data",
           str(tmp_path / "test.npz"), "--bits", "2,4,8", "--timesteps", "2,4", "--pes", pes,
           "--dispatch-cycles", "1,0.5", "--cache", str(cache), "-o", str(tmp_path / "out"), "--workers", "2",
           "--quiet", "--search", search, "--trials", "400", "--population", "40"]  # 768 points
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    driver = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        _wait(lambda: len(_files(cache)) >= 5, driver, "5 points were written")
        workers = [c for c in psutil.Process(driver.pid).children(recursive=True)
                   if "multiprocessing" in " ".join(c.cmdline())]
        assert workers, "no worker processes found"
        workers[0].send_signal(signal.SIGKILL)  # a worker dies: dask re-runs its tasks elsewhere
        seen = len(_files(cache))
        _wait(lambda: len(_files(cache)) >= seen + 20, driver, "20 more points were written")
        os.killpg(driver.pid, signal.SIGKILL)  # the driver (and its local cluster) dies mid-run
        driver.wait()
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == -signal.SIGKILL and not (tmp_path / "out").exists()
    before = _files(cache)
    rerun = subprocess.run(cmd, env={**env, "COLUMNS": "200"}, capture_output=True, text=True, check=True)
    after = _files(cache)
    assert all(after[name] == content for name, content in before.items())  # nothing lost or rewritten
    computed = int(re.search(r"(\d+)\s+points\s+computed", rerun.stdout).group(1))
    assert computed == len(after) - len(before)  # only what was missing ran again
    rows = (tmp_path / "out" / "sweep.csv").read_text().splitlines()[1:]
    if search == "grid":
        assert len(rows) == 768 == len(after)
    else:
        assert len(rows) == len(after) >= len(before)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 7), st.integers(1, 3)), elements=st.floats(0, 1)),
       st.integers(0, 6))
def test_hypervolume_is_monotone_and_exact_for_one_box(values, drop):
    ref = np.full(values.shape[1], 1.5)
    maximize = [False] * values.shape[1]
    whole = hypervolume(values, ref, maximize)
    assert hypervolume(values[:1], ref, maximize) == pytest.approx(float(np.prod(ref - values[0])))
    subset = np.delete(values, drop % values.shape[0], axis=0)
    assert hypervolume(subset, ref, maximize) <= whole + 1e-12  # adding a point never shrinks it
    keep = pareto_mask(values, maximize)  # dominated rows add nothing
    assert hypervolume(values[keep], ref, maximize) == pytest.approx(whole)
    # a Monte-Carlo estimate on a fixed grid agrees
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1.5, 31)[:-1] + 0.025] * values.shape[1]), -1).reshape(-1, values.shape[1])
    covered = np.any(np.all(grid[:, None, :] >= values[None], axis=2), axis=1).mean() * 1.5 ** values.shape[1]
    assert whole == pytest.approx(covered, abs=0.25)


def test_hypervolume_errors():
    with pytest.raises(InvalidDataError, match=r"hypervolume: values \(2,\), reference \(2,\), 2 objectives"):
        hypervolume([1.0, 2.0], [0.0, 0.0], [True, False])
    with pytest.raises(InvalidDataError, match="hypervolume: NaN in the values"):
        hypervolume([[np.nan, 1.0]], [0.0, 0.0], [True, False])


@needs_dask
def test_scheduler_address_runs_on_that_cluster(snn, data, cluster):
    x, y = data
    with make_engine(scheduler=cluster.cluster.scheduler_address) as remote:
        assert remote.label.startswith("cluster tcp://") and remote.workers == 2
        r = sweep(snn, x, y, bits=[8], timesteps=[2, 4], pes=[4, 64], quiet=True, engine=remote)
    assert figures(r) == figures(sweep(snn, x, y, bits=[8], timesteps=[2, 4], pes=[4, 64], quiet=True))
    assert len(cluster.client.scheduler_info()["workers"]) == 2  # closing the client left the cluster running


def test_assignment_is_a_searched_axis(snn, data, tmp_path):
    x, y = data
    kinds = ["channel", "balanced-channel", "balanced-neuron"]
    r = sweep(snn, x, y, bits=[8], timesteps=[4], pes=[16, 64], knobs={"distribution": kinds}, quiet=True,
              cache=SimulationCache(tmp_path))
    assert len(r.evaluations) == 6 and r.simulations == 2  # one channel-granular and one neuron-granular trace
    by = {(e.point.pes, dict(e.point.knobs)["distribution"]): e for e in r.evaluations}
    for pes in (16, 64):
        assert by[pes, "balanced-channel"].latency_s <= by[pes, "channel"].latency_s
        assert len({by[pes, k].accuracy for k in kinds}) == 1  # the hardware does not change what is computed
    assert "balanced-neuron" in by[64, "balanced-neuron"].point.label
    again = sweep(snn, x, y, bits=[8], timesteps=[4], pes=[16, 64], knobs={"distribution": kinds}, quiet=True,
                  cache=SimulationCache(tmp_path))
    assert again.simulations == 0 and again.evaluated == 0 and figures(again) == figures(r)
    with pytest.raises(UnknownStrategyError, match=r"unknown assignment 'lpt'; known: channel, neuron"):
        sweep(snn, x, y, bits=[8], timesteps=[2], knobs={"distribution": ["channel", "lpt"]}, quiet=True)


@needs_optuna
def test_nsga2_searches_the_assignment_with_bits_and_timesteps(snn, data):
    x, y = data
    space = {"bits": [4, 8], "timesteps": [2, 4], "pes": [4, 64],
             "knobs": {"distribution": ["channel", "balanced-channel", "balanced-neuron"]}}  # 24 points
    found = sweep(snn, x, y, search="nsga2", trials=10, population=5, quiet=True, **space)
    grid = figures(sweep(snn, x, y, quiet=True, **space))
    assert set(figures(found).items()) <= set(grid.items())
    assert {dict(p.knobs)["distribution"] for p in figures(found)} <= set(space["knobs"]["distribution"])


class Recording(InProcess):
    """Runs tasks in process and notes each one's function, priority and timesteps."""

    def __init__(self):
        self.calls = []

    def submit(self, fn, *args, key, priority=0):
        self.calls.append((fn.__name__, priority, args[4] if fn.__name__ == "_record_task" else None))
        return super().submit(fn, *args, key=key, priority=priority)


def test_simulations_are_scheduled_before_evaluations_longest_first(snn, data):
    x, y = data
    engine = Recording()
    sweep(snn, x, y, bits=[4, 8], timesteps=[2, 6, 4], pes=[4, 16], engine=engine, quiet=True)
    names = [c[0] for c in engine.calls]
    sims = [c for c in engine.calls if c[0] == "_record_task"]
    assert len(sims) == 6 and names.index("_evaluate_task") > max(i for i, n in enumerate(names) if n == "_record_task")
    assert [t for _, _, t in sims] == sorted((t for _, _, t in sims), reverse=True)  # longest first
    # quantised networks first (then copied to every worker), so no simulation waits on one worker's
    assert max(i for i, n in enumerate(names) if n == "_quantize_task") < names.index("_record_task")
    priority = {n: {p for m, p, _ in engine.calls if m == n} for n in set(names)}
    assert max(priority["_record_task"]) > min(priority["_record_task"]) > max(priority["_evaluate_task"])


def test_codesign_command_sweeps_assignments(snn, tmp_path):
    from spikeforge.cli import main

    save_network(snn, tmp_path / "snn")
    save_data(tmp_path / "test.npz", digits("test").take(8))
    rc = main(["codesign", str(tmp_path / "snn"), "--data", str(tmp_path / "test.npz"), "--bits", "8",
               "--timesteps", "2", "--pes", "8", "--assignments", "channel,balanced-neuron", "--workers", "0",
               "-o", str(tmp_path / "out"), "--quiet"])
    assert rc in (0, None)
    rows = (tmp_path / "out" / "sweep.csv").read_text()
    assert "balanced-neuron" in rows and rows.count("\n") == 3  # header and two points


def test_a_cache_where_files_cannot_be_made_is_refused_before_any_simulation(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputPathError, match=r"cache .*notes\.txt/cache: .*notes\.txt is a file, not a folder"):
        SimulationCache(tmp_path / "notes.txt" / "cache")
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["chattr", "+i", str(ro)], capture_output=True, check=False).returncode != 0:
        pytest.skip("chattr +i not supported here (root ignores read-only modes)")
    try:
        with pytest.raises(OutputPathError, match=r"cache .*ro/cache: cannot write \(folder .*ro is read-only"):
            SimulationCache(ro / "cache")
    finally:
        subprocess.run(["chattr", "-i", str(ro)], capture_output=True, check=False)
