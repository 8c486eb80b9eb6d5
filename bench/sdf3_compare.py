"""spikeforge's dataflow analysis side by side with SDF3 (Stuijk et al., "SDF For Free").

For every graph — the two SNN-shaped families of :mod:`bench.sdf_graphs` (homogeneous
``layered_graph``, multi-rate ``multirate_graph``) at each size, written with spikeforge's own
:func:`spikeforge.dataflow.sdf3.write_sdf3`, plus the SDF3 example graphs of
``../shared/data/sdf`` and of SDF3's own sources (``sdf/testbench``, when its cache holds them) —
it measures, each tool in its own child process (``nice -n 10``, an
address-space limit, a timeout; peak RSS from ``wait4``):

* SDF3: ``sdf3analysis-sdf --graph G --algo throughput`` (state-space exploration): whole
  process wall time, peak RSS, the analysis time SDF3 prints, and the throughput;
* spikeforge, whole process: ``spikeforge analyse G --json OUT`` (generated graphs with
  ``--max-steps 0``: throughput, latency and the least deadlock-free buffer capacities; the
  SDF3 examples with the default buffer trade-off, ``--max-steps 50``);
* spikeforge in-process: ``read_sdf3`` (load) and ``throughput`` (analysis) timed separately
  in one child, then ``throughput(exact=True)`` for the exact value;
* on small graphs (the SDF3 examples, and generated graphs up to ``--buffer-max-actors``),
  the buffer-size / throughput Pareto points: SDF3's ``--algo buffersize`` (exact
  exploration of all storage distributions) against spikeforge's greedy ``buffer_tradeoff``,
  both with every channel bounded (``channels=`` all names, self-loops included, which is
  SDF3's model: a channel's size includes its initial tokens) and spikeforge's default (self-loops
  unbounded and not counted).

Throughputs are compared exactly: SDF3 computes in double precision; the patched build prints
17 significant digits, and "equal" means that double is the correctly rounded value of
spikeforge's exact fraction (``float(F) == sdf3``). The SDF3 fraction shown is the double's
best rational approximation with denominator ≤ 10⁶.

SDF3 is GPL and is never part of this repository. Build it outside, e.g. in
``../.cache/sdf3`` beside the checkout (see that folder's README): sources of ``sdf3/`` from
github:Shihao-Song/DFSynthesizer, modules ``base`` and ``sdf`` only, with these patches to the
cache copy: ``-std=gnu++11 -fpermissive -w`` in ``etc/Makefile.inc`` (libxml2's headers need
C++11); ``boost_regex`` dropped from the link (unused); only the ``sdf3analysis`` tool; and
``std::setprecision(17)`` on the printed throughputs of ``sdf3analysis.cc`` (stock SDF3 prints 6
digits). The binary is taken from ``--sdf3 PATH``, else ``$SDF3_BIN``, else
``../.cache/sdf3/bin/sdf3analysis-sdf``; without it only spikeforge's side is measured and
the tables say SDF3 was not found.

After a timeout (or memory failure) of one tool in a family, its larger sizes in that family are
skipped and recorded as such. Writes bench/results/sdf3_compare.{json,md}.

Run: ``python bench/sdf3_compare.py [--quick] [--sizes 1000 10000] [--families multirate]
[--sdf3 PATH] [--timeout 300] [--mem-gb 8]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import DATA, RESULTS, ROOT, write_results

FULL_SIZES = (1_000, 2_000, 5_000, 10_000, 100_000)
QUICK_SIZES = (20, 50, 200)
#: SDF3 is GPL: built beside the checkout, never inside it.
def _shown(path: Path) -> str:
    """``path`` relative to the checkout's parent (``../.cache/...``) when it lies there: results
    name no path of one machine."""
    try:
        return str(Path("..") / Path(path).resolve().relative_to(ROOT.parent.resolve()))
    except ValueError:
        return Path(path).name


DEFAULT_SDF3 = ROOT.parent / ".cache" / "sdf3" / "bin" / "sdf3analysis-sdf"
#: SDF3's own example graphs, in its sources beside the binary (measured when present).
SDF3_TESTBENCH = ROOT.parent / ".cache" / "sdf3" / "src" / "sdf" / "testbench"
#: The issue's targets (seconds, MB).
TARGETS = {"multirate": {1_000: 0.1, 10_000: 1.0, 100_000: 15.0},
           "homogeneous": {10_000: 0.3, 100_000: 3.0}}
MULTIRATE_1K_MB = 200
EXAMPLE_ANALYSE_S = 1.0
SPEEDUP = 10.0


# ----------------------------------------------------------------------------- child processes

def run_limited(cmd: list[str], *, timeout: float, mem_gb: float, env: dict | None = None) -> dict:
    """Run ``cmd`` niced, under an address-space limit; wall time, peak RSS, exit, output."""
    def limit() -> None:
        os.nice(10)
        limit_bytes = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True, env=env,
                                preexec_fn=limit)  # noqa: PLW1509 - the benchmark starts no threads
        status, usage, timed_out = None, None, False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                timed_out = True
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {"wall_s": wall, "max_rss_mb": usage.ru_maxrss / 1024, "returncode": proc.returncode,
                "timed_out": timed_out, "stdout": out.read().decode(errors="replace"),
                # tools quote the files they read: name them beside the checkout, not on this machine
                "stderr": err.read().decode(errors="replace").replace(str(ROOT.parent.resolve()), "..")}


def _child_env() -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    return env


def _fraction_text(value) -> str:
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return repr(float(value))


def child_inprocess(path: str) -> dict:
    """In a child process: time ``read_sdf3`` and ``throughput`` (float, then exact)."""
    t0 = time.perf_counter()
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.errors import DeadlockError, ResourceError
    result = {"import_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    graph = read_sdf3(path)
    result["load_s"] = time.perf_counter() - t0
    for key, exact in (("float", False), ("exact", True)):
        t0 = time.perf_counter()
        try:
            value = throughput(graph, exact=exact).throughput
        except DeadlockError:
            value = Fraction(0) if exact else 0.0
            result["deadlock"] = True
        except ResourceError as exc:  # an expansion beyond the memory available
            result[f"{key}_error"] = str(exc)[:300]
            print(json.dumps(result), flush=True)
            continue
        result[f"analysis_{key}_s"] = time.perf_counter() - t0
        result[f"throughput_{key}"] = _fraction_text(value)
        result["rss_after_" + key + "_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result), flush=True)  # partial results survive a later timeout
    return result


def child_buffers(path: str, max_steps: int) -> dict:
    """In a child process: ``buffer_tradeoff`` with every channel bounded, and the default."""
    from spikeforge.dataflow.buffers import buffer_tradeoff
    from spikeforge.dataflow.sdf3 import read_sdf3
    from spikeforge.errors import SpikeforgeError
    graph = read_sdf3(path)
    result = {}
    for key, channels in (("all_channels", [c.name for c in graph.channels]), ("default", None)):
        t0 = time.perf_counter()
        try:
            points = buffer_tradeoff(graph, channels=channels, max_steps=max_steps, exact=True)
            result[key] = [[p.total_size, _fraction_text(p.throughput)] for p in points]
        except SpikeforgeError as exc:
            result[key] = f"{type(exc).__name__}: {exc}"[:300]
        result[key + "_s"] = time.perf_counter() - t0
        print(json.dumps(result), flush=True)
    return result


def _last_json(text: str) -> dict | None:
    lines = [line for line in text.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def _status(run: dict) -> str:
    if run["timed_out"]:
        return "timeout"
    if run["returncode"] == 0:
        return "ok"
    if "MemoryError" in run["stderr"] or "std::bad_alloc" in run["stderr"] or run["returncode"] in (-6, -9):
        return "memory"
    return f"exit {run['returncode']}"


# ----------------------------------------------------------------------------- the two tools

def sdf3_throughput(binary: Path, path: Path, timeout: float, mem_gb: float) -> dict:
    run = run_limited([str(binary), "--graph", str(path), "--algo", "throughput"], timeout=timeout,
                      mem_gb=mem_gb)
    rec = {"status": _status(run), "wall_s": run["wall_s"], "max_rss_mb": run["max_rss_mb"]}
    m = re.search(r"thr\([^)]*\) = (\S+)", run["stdout"])
    if m:
        rec["throughput_text"] = m.group(1)
        rec["throughput"] = float(m.group(1))
        # SDF3 prints inf for a cycle of zero execution times
        rec["throughput_fraction"] = "inf" if math.isinf(rec["throughput"]) else \
            _fraction_text(Fraction(m.group(1)).limit_denominator(10**6))
    m = re.search(r"analysis time: ([0-9.eE+-]+)ms", run["stdout"])
    if m:
        rec["analysis_s"] = float(m.group(1)) / 1e3
    if rec["status"] != "ok":
        rec["stderr"] = run["stderr"][-300:]
    return rec


def sdf3_buffers(binary: Path, path: Path, timeout: float, mem_gb: float) -> dict:
    run = run_limited([str(binary), "--graph", str(path), "--algo", "buffersize"], timeout=timeout,
                      mem_gb=mem_gb)
    rec = {"status": _status(run), "wall_s": run["wall_s"], "max_rss_mb": run["max_rss_mb"]}
    points = [[int(sz), thr] for thr, sz in
              re.findall(r"<distributionsSet thr='([^']+)' sz='([0-9]+)'>", run["stdout"])]
    # SDF3 lists the deadlocking start (throughput 0, size 0) as a point of its own: dropped,
    # unless it is the only one (a graph that deadlocks with unbounded buffers).
    rec["points"] = [[sz, _fraction_text(Fraction(thr).limit_denominator(10**6)), float(thr)]
                     for sz, thr in points if float(thr) > 0 or len(points) == 1]
    if rec["status"] != "ok":
        rec["stderr"] = run["stderr"][-300:]
    return rec


def spikeforge_cli(path: Path, out_json: Path, max_steps: int | None, timeout: float, mem_gb: float) -> dict:
    exe = shutil.which("spikeforge", path=str(Path(sys.executable).parent)) or "spikeforge"
    cmd = [exe, "analyse", str(path), "--json", str(out_json)]
    if max_steps is not None:
        cmd += ["--max-steps", str(max_steps)]
    run = run_limited(cmd, timeout=timeout, mem_gb=mem_gb, env=_child_env())
    rec = {"status": _status(run), "wall_s": run["wall_s"], "max_rss_mb": run["max_rss_mb"],
           "max_steps": 50 if max_steps is None else max_steps}
    if rec["status"] == "ok" and out_json.is_file():
        report = json.loads(out_json.read_text())
        rec["throughput"] = report["throughput"]
        rec["buffer_points"] = [[p["total_size"], p["throughput"]] for p in report["buffer_tradeoff"]]
    elif "deadlocks: cycle" in run["stderr"] and "buffer_tradeoff" not in run["stderr"]:
        rec["status"] = "deadlock"  # the graph itself deadlocks (SDF3: throughput 0)
        rec["throughput"] = "0"
    elif "buffer_tradeoff" in run["stderr"]:
        rec["status"] = "buffer_tradeoff error"
    if rec["status"] not in ("ok", "deadlock"):
        rec["stderr"] = run["stderr"][-300:]
    out_json.unlink(missing_ok=True)
    return rec


def spikeforge_inprocess(path: Path, timeout: float, mem_gb: float) -> dict:
    run = run_limited([sys.executable, __file__, "--child", "inprocess", str(path)], timeout=timeout,
                      mem_gb=mem_gb, env=_child_env())
    rec = {"status": _status(run), "wall_s": run["wall_s"], "max_rss_mb": run["max_rss_mb"]}
    rec.update(_last_json(run["stdout"]) or {})
    if rec["status"] == "ok" or "analysis_exact_s" in rec:  # the default for integer times
        rec["load_analysis_s"] = rec.get("load_s", math.nan) + rec.get("analysis_exact_s", math.nan)
    if rec["status"] != "ok":
        rec["stderr"] = run["stderr"][-300:]
    return rec


def spikeforge_buffers(path: Path, max_steps: int, timeout: float, mem_gb: float) -> dict:
    run = run_limited([sys.executable, __file__, "--child", "buffers", str(path), "--child-steps",
                       str(max_steps)], timeout=timeout, mem_gb=mem_gb, env=_child_env())
    rec = {"status": _status(run), "wall_s": run["wall_s"], "max_rss_mb": run["max_rss_mb"],
           "max_steps": max_steps}
    rec.update(_last_json(run["stdout"]) or {})
    if rec["status"] != "ok":
        rec["stderr"] = run["stderr"][-300:]
    return rec


# ----------------------------------------------------------------------------- comparison

def throughput_equal(sdf3: dict, sf: dict) -> bool | None:
    """SDF3's double equals the rounding of spikeforge's exact throughput (None: not both known)."""
    if "throughput" not in sdf3:
        return None
    if "throughput_exact" in sf:
        text = sf["throughput_exact"]
        return (math.inf if text == "inf" else float(Fraction(text))) == sdf3["throughput"]
    if "throughput_float" in sf:
        return math.isclose(float(sf["throughput_float"]), sdf3["throughput"], rel_tol=1e-9)
    return None


def pareto_compare(sdf3_points: list, sf_points) -> dict | None:
    """For each SDF3 Pareto point: the least spikeforge total size reaching its throughput."""
    if not sdf3_points or not isinstance(sf_points, list):
        return None
    rows, same = [], True
    for sz, _frac, thr in sdf3_points:
        reach = [s for s, t in sf_points if float(Fraction(t)) >= thr * (1 - 1e-12)]
        best = min(reach) if reach else None
        rows.append({"sdf3_size": sz, "throughput": thr, "spikeforge_size": best})
        same &= best == sz
    return {"points": rows, "same_sizes": same,
            "spikeforge_extra_points": len(sf_points) - len(sdf3_points)}


# ----------------------------------------------------------------------------- main

def measure(name: str, path: Path, graph, *, family: str, binary: Path | None, args, skip: dict,
            tmp: Path, buffers: bool, cli_steps: int | None) -> dict:
    from bench.sdf_graphs import graph_stats

    row = {"graph": name, "family": family, **graph_stats(graph), "file_mb": path.stat().st_size / 2**20}
    print(f"{name}: {row['actors']:,} actors, {row['channels']:,} channels, sum q {row['sum_q']}, "
          f"{row['initial_tokens']:,} tokens", flush=True)
    if binary is None:
        row["sdf3"] = {"status": "not found"}
    elif skip.get(("sdf3", family)):
        row["sdf3"] = {"status": f"skipped ({skip[('sdf3', family)]})"}
    else:
        row["sdf3"] = sdf3_throughput(binary, path, args.timeout, args.mem_gb)
        if row["sdf3"]["status"] in ("timeout", "memory") and family != "example":
            skip[("sdf3", family)] = f"{row['sdf3']['status']} at {row['actors']:,} actors"
    for key, run in (("spikeforge", lambda: spikeforge_inprocess(path, args.timeout, args.mem_gb)),
                     ("spikeforge_cli", lambda: spikeforge_cli(path, tmp / "analyse.json", cli_steps,
                                                               args.timeout, args.mem_gb))):
        if skip.get((key, family)):
            row[key] = {"status": f"skipped ({skip[(key, family)]})"}
            continue
        row[key] = run()
        if row[key]["status"] in ("timeout", "memory") and family != "example":
            skip[(key, family)] = f"{row[key]['status']} at {row['actors']:,} actors"
    row["throughput_equal"] = throughput_equal(row["sdf3"], row["spikeforge"])
    sf_wall = row["spikeforge_cli"].get("wall_s") if row["spikeforge_cli"].get("status") in ("ok", "deadlock") \
        else None
    sd_wall = row["sdf3"].get("wall_s") if row["sdf3"].get("status") in ("ok", "timeout") else None
    row["speedup_cli"] = sd_wall / sf_wall if sf_wall and sd_wall else None
    sf_in = row["spikeforge"].get("load_analysis_s")
    row["speedup_inprocess"] = sd_wall / sf_in if sf_in and sd_wall and not math.isnan(sf_in) else None
    row["speedup_is_lower_bound"] = row["sdf3"].get("status") == "timeout"
    print(f"   SDF3 {row['sdf3'].get('status')} {row['sdf3'].get('wall_s', math.nan):.3f} s "
          f"thr {row['sdf3'].get('throughput_text')} | spikeforge load+analysis "
          f"{row['spikeforge'].get('load_analysis_s', math.nan):.3f} s "
          f"({row['spikeforge'].get('status')}), thr {row['spikeforge'].get('throughput_exact')}, "
          f"CLI {row['spikeforge_cli'].get('status')} {row['spikeforge_cli'].get('wall_s', math.nan):.3f} s "
          f"| equal {row['throughput_equal']}", flush=True)
    if buffers:
        row["buffers"] = {"spikeforge": spikeforge_buffers(path, args.buffer_steps, args.buffer_timeout,
                                                          args.mem_gb)}
        if binary is not None:
            row["buffers"]["sdf3"] = sdf3_buffers(binary, path, args.buffer_timeout, args.mem_gb)
            row["buffers"]["compare_all_channels"] = pareto_compare(
                row["buffers"]["sdf3"]["points"], row["buffers"]["spikeforge"].get("all_channels"))
        b = row["buffers"]
        print(f"   buffers: SDF3 {b.get('sdf3', {}).get('status')} {b.get('sdf3', {}).get('points')} | "
              f"spikeforge (all channels) {b['spikeforge'].get('all_channels')}", flush=True)
    return row


def _fmt_s(rec: dict, key: str = "wall_s") -> str:
    status = rec.get("status", "")
    if status.startswith("skipped") or status == "not found":
        return status
    if status == "timeout":
        return f"> {rec['wall_s']:.0f} (timeout)"
    value = rec.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return status
    text = f"{value:.3f}" if value < 100 else f"{value:,.0f}"
    return text if status in ("ok", "deadlock") else f"{text} ({status})"


def _fmt_mb(rec: dict) -> str:
    return f"{rec['max_rss_mb']:,.0f}" if "max_rss_mb" in rec else ""


def _fmt_thr(rec: dict, key: str) -> str:
    return str(rec.get(key, "")) or ""


def targets(rows: list[dict]) -> list[dict]:
    out = []
    for family, sizes in TARGETS.items():
        for n, limit in sizes.items():
            row = next((r for r in rows if r["family"] == family and r["actors"] == n), None)
            if family == "multirate":
                what = f"multi-rate {n:,} actors: throughput() ≤ {limit:g} s"
                value = None if row is None else row["spikeforge"].get("analysis_exact_s")
            else:
                what = f"homogeneous {n:,} actors: read_sdf3 + throughput() ≤ {limit:g} s"
                value = None if row is None else row["spikeforge"].get("load_analysis_s")
            status = None if row is None else row["spikeforge"].get("status")
            # Judged on the measured step even when a later step of the process failed; a run
            # that never got there (timeout, memory) misses it.
            if value is not None:
                met = value <= limit
            else:
                met = None if status is None or str(status).startswith("skipped") else False
            out.append({"target": what, "measured": value, "met": met, "unit": "s",
                        "status": status})
            if family == "multirate" and n == 1_000:
                mb = None if row is None else row["spikeforge"].get("max_rss_mb")
                out.append({"target": f"multi-rate 1,000 actors: peak RSS of the read+analyse process "
                                      f"≤ {MULTIRATE_1K_MB} MB", "measured": mb, "unit": "MB",
                            "met": None if mb is None else (mb <= MULTIRATE_1K_MB and
                                                            row["spikeforge"].get("status") == "ok")})
    examples = [r for r in rows if r["family"] == "example"]
    if examples:
        walls = [r["spikeforge_cli"].get("wall_s") for r in examples
                 if r["spikeforge_cli"].get("status") in ("ok", "deadlock")]
        worst = max(walls) if walls else None
        ok = len(walls) == len(examples) and worst <= EXAMPLE_ANALYSE_S
        out.append({"target": f"`spikeforge analyse` (default buffer trade-off) on every SDF3 example graph "
                              f"≤ {EXAMPLE_ANALYSE_S:g} s wall", "measured": worst, "met": ok, "unit": "s"})
    # Graphs SDF3 cannot analyse at all (out of memory) count as met when spikeforge's side ran.
    big = [r for r in rows if r["actors"] >= 1_000 and r["family"] != "example"
           and not (r["sdf3"].get("status") == "memory" and r["spikeforge"].get("analysis_exact_s"))]
    if big and any(r["sdf3"].get("status") not in ("not found",) for r in big):
        ratios = [r["speedup_cli"] for r in big]
        known = [x for x in ratios if x is not None]
        met = None if not known else (len(known) == len(ratios) and min(known) >= SPEEDUP)
        out.append({"target": f"≥ {SPEEDUP:g}× faster than SDF3 (whole-process wall: `spikeforge analyse` "
                              f"vs `sdf3analysis-sdf`) on every graph of ≥ 1,000 actors SDF3 can analyse", "measured": min(known) if known else None, "met": met,
                    "unit": "x"})
        ratios = [r["speedup_inprocess"] for r in big]
        known = [x for x in ratios if x is not None]
        met = None if not known else (len(known) == len(ratios) and min(known) >= SPEEDUP)
        out.append({"target": f"(for reference) SDF3 wall ≥ {SPEEDUP:g}× spikeforge `read_sdf3` + `throughput()` "
                              f"on every graph of ≥ 1,000 actors", "measured": min(known) if known else None,
                    "met": met, "unit": "x"})
    return out


def markdown(rows: list[dict], tg: list[dict], binary: Path | None, load, args) -> str:
    lines = ["# spikeforge vs SDF3: throughput and buffer sizing (issue: dataflow at scale)", "",
             "SDF3 `sdf3analysis-sdf --algo throughput` (state-space exploration) and spikeforge on the same "
             "SDF3 XML files: the SDF3 example graphs and two SNN-shaped families (`bench/sdf_graphs.py`: "
             "layers of 100 clusters, fan-out 3, one-token self-loops, buffer back-edges; homogeneous, and "
             "multi-rate with rates 1–3). Every run is a separate niced process with a "
             f"{args.timeout:g} s timeout and a {args.mem_gb:g} GB address-space limit; peak RSS from `wait4`. "
             "*load* = `read_sdf3`, *analysis* = `throughput()` with its default, exact for these integer-time "
             "graphs (Fractions; the float analysis is in the JSON), *CLI* = whole `spikeforge analyse "
             "--json` process (generated graphs with `--max-steps 0`, examples with the default 50). "
             "*equal* = SDF3's double (printed to 17 digits) is the rounding of spikeforge's exact fraction. "
             "*speed-up* = SDF3 wall / spikeforge CLI wall (in parentheses: / spikeforge load+analysis); "
             "'>' when SDF3 timed out.", ""]
    lines.append(f"SDF3: `{_shown(binary)}`" if binary else "**SDF3 was not found** (give `--sdf3 PATH` or `$SDF3_BIN`): "
                 "only spikeforge's side was measured.")
    lines += [f"Load average at the end: {load[0]:.2f} (2 cores shared).", "",
              "| graph | actors | channels | Σq | tokens | throughput (spikeforge) | SDF3 | equal | SDF3 wall s "
              "| SDF3 MB | sf load s | sf analysis s | sf read+analyse MB | sf CLI wall s | sf CLI MB | speed-up |",
              "|---|---:|---:|---:|---:|---|---|:---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sd, sf, cli = r["sdf3"], r["spikeforge"], r["spikeforge_cli"]
        eq = {True: "yes", False: "**no**", None: "–"}[r["throughput_equal"]]
        sp = ""
        gt = ">" if r["speedup_is_lower_bound"] else ""
        if r["speedup_cli"] is not None:
            sp = f"{gt}{r['speedup_cli']:.2g}×"
        if r["speedup_inprocess"] is not None:
            sp += f" ({gt}{r['speedup_inprocess']:.2g}×)"
        lines.append(
            f"| {r['graph']} | {r['actors']:,} | {r['channels']:,} | {r['sum_q'] if r['sum_q'] is not None else '–'} "
            f"| {r['initial_tokens']:,} | {sf.get('throughput_exact', sf.get('throughput_float', sf.get('status')))} "
            f"| {sd.get('throughput_fraction', sd.get('status'))} | {eq} | {_fmt_s(sd)} | {_fmt_mb(sd)} "
            f"| {_fmt_s(sf, 'load_s')} | {_fmt_s(sf, 'analysis_exact_s')} | {_fmt_mb(sf)} | {_fmt_s(cli)} "
            f"| {_fmt_mb(cli)} | {sp} |")
    lines += ["", "## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for t in tg:
        m = t["measured"]
        unit = t.get("unit", "s")
        mtxt = "–" if m is None else (f"{m:.1f}×" if unit == "x" else f"{m:,.0f} MB" if unit == "MB"
                                      else f"{m:.3f} s")
        if t.get("status") not in (None, "ok"):
            mtxt += f" (process: {t['status']})"
        lines.append(f"| {t['target']} | {mtxt} | {({True: 'met', False: '**missed**', None: 'not measured'})[t['met']]} |")
    buf = [r for r in rows if "buffers" in r]
    if buf:
        lines += ["", "## Buffer size / throughput Pareto points", "",
                  "SDF3 `--algo buffersize` (exact: every minimal storage distribution; sizes count every channel, "
                  "self-loops included, initial tokens included) against spikeforge `buffer_tradeoff` "
                  f"(`max_steps={args.buffer_steps}`) with every channel bounded (same model) "
                  "and with its default (self-loops unbounded, not counted). Points as (total size, throughput). "
                  "*same* = for every SDF3 point spikeforge reaches that throughput with the same total size.", "",
                  "| graph | SDF3 points | SDF3 s | spikeforge, all channels | spikeforge default | spikeforge s | same |",
                  "|---|---|---:|---|---|---:|:---:|"]
        for r in buf:
            b = r["buffers"]
            sd = b.get("sdf3", {"status": "not found"})
            sdp = ", ".join(f"({s}, {f})" for s, f, _ in sd.get("points", [])) or sd.get("status")
            if sd.get("status") not in ("ok", None) and sd.get("points"):
                sdp += f" ({sd['status']})"
            sf = b["spikeforge"]
            sf_status = sf.get("status")

            def pts(v, status=sf_status):
                return ", ".join(f"({s}, {t})" for s, t in v) if isinstance(v, list) else str(v or status)
            cmp_ = b.get("compare_all_channels")
            same = "–" if cmp_ is None else ("yes" if cmp_["same_sizes"] else "no")
            sf_s = sum(sf.get(k, 0) for k in ("all_channels_s", "default_s"))
            lines.append(f"| {r['graph']} | {sdp} | {_fmt_s(sd)} | {pts(sf.get('all_channels'))} "
                         f"| {pts(sf.get('default'))} | {sf_s:.3f} | {same} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"small sizes only {QUICK_SIZES}")
    parser.add_argument("--sizes", type=int, nargs="+", help=f"actor counts (default {FULL_SIZES})")
    parser.add_argument("--families", nargs="+", choices=("homogeneous", "multirate"),
                        default=["homogeneous", "multirate"])
    parser.add_argument("--no-examples", action="store_true", help="skip the SDF3 example graphs")
    parser.add_argument("--sdf3", type=Path, help="sdf3analysis-sdf binary (default $SDF3_BIN or "
                                                  f"{DEFAULT_SDF3})")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit per run (default 8)")
    parser.add_argument("--buffer-max-actors", type=int, default=8,
                        help="buffer Pareto comparison on generated graphs up to this size (default 8)")
    parser.add_argument("--buffer-steps", type=int, default=2000, help="max_steps of buffer_tradeoff")
    parser.add_argument("--buffer-timeout", type=float, default=120.0)
    parser.add_argument("--cli-max-steps", type=int, default=0,
                        help="--max-steps of `spikeforge analyse` on generated graphs (default 0)")
    parser.add_argument("--keep-graphs", type=Path, help="write the generated graphs to this folder")
    parser.add_argument("--child", choices=("inprocess", "buffers"), help=argparse.SUPPRESS)
    parser.add_argument("--child-steps", type=int, default=2000, help=argparse.SUPPRESS)
    parser.add_argument("child_path", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--render-only", action="store_true",
                        help="rewrite the tables and targets from bench/results/sdf3_compare.json")
    args = parser.parse_args()
    if args.render_only:
        saved = json.loads((RESULTS / "sdf3_compare.json").read_text())
        args.timeout, args.mem_gb = saved["timeout_s"], saved["mem_limit_gb"]
        rows, binary = saved["results"], saved["sdf3_binary"]
        tg = targets(rows)
        saved["targets"] = tg
        write_results("sdf3_compare", {k: v for k, v in saved.items() if k not in ("benchmark", "machine")}
                      | {"rendered_from_saved_run": saved["machine"]["date"]})
        (RESULTS / "sdf3_compare.md").write_text(markdown(rows, tg, binary and Path(binary),
                                                          saved["load_average_1_5_15"], args))
        print((RESULTS / "sdf3_compare.md").read_text())
        return
    if args.child == "inprocess":
        child_inprocess(args.child_path)
        return
    if args.child == "buffers":
        child_buffers(args.child_path, args.child_steps)
        return

    from bench.sdf_graphs import FAMILIES
    from spikeforge.dataflow.sdf3 import read_sdf3, write_sdf3

    binary = args.sdf3 or (Path(os.environ["SDF3_BIN"]) if os.environ.get("SDF3_BIN") else DEFAULT_SDF3)
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        print(f"SDF3 not found at {binary}: measuring spikeforge only", flush=True)
        binary = None
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    rows, skip = [], {}
    with tempfile.TemporaryDirectory(prefix="sdf3_compare_") as tmpdir:
        tmp = Path(tmpdir)
        folder = args.keep_graphs or tmp
        folder.mkdir(parents=True, exist_ok=True)
        if not args.no_examples:
            for label, examples in (("", DATA / "sdf"), ("sdf3/", SDF3_TESTBENCH)):
                if not examples.is_dir():
                    print(f"SDF3 example graphs not found in {_shown(examples)}", flush=True)
                    continue
                for path in sorted(examples.glob("*.xml")):
                    with warnings.catch_warnings():  # SDF3's own files list several defaults
                        warnings.simplefilter("ignore")
                        graph = read_sdf3(path)
                    rows.append(measure(label + path.name, path, graph, family="example", binary=binary,
                                        args=args, skip=skip, tmp=tmp, buffers=True, cli_steps=None))
        small = sorted({n for n in (6, 8) if n <= args.buffer_max_actors})
        for family in args.families:
            for n in sorted(set(sizes) | set(small)):
                # Layers of 100 clusters from 500 actors on; smaller graphs keep about 5 layers.
                graph = FAMILIES[family](n, width=min(100, max(2, n // 5)))
                path = folder / f"{graph.name}.xml"
                write_sdf3(graph, path)
                rows.append(measure(graph.name, path, graph, family=family, binary=binary, args=args,
                                    skip=skip, tmp=tmp, buffers=n <= args.buffer_max_actors,
                                    cli_steps=args.cli_max_steps))
    load = os.getloadavg()
    tg = targets(rows)
    write_results("sdf3_compare", {
        "sdf3_binary": _shown(binary) if binary else None, "sdf3_found": binary is not None,
        "timeout_s": args.timeout, "mem_limit_gb": args.mem_gb, "load_average_1_5_15": load,
        "sizes": list(sizes), "families": args.families, "targets": tg, "results": rows})
    (RESULTS / "sdf3_compare.md").write_text(markdown(rows, tg, binary, load, args))
    print((RESULTS / "sdf3_compare.md").read_text())


if __name__ == "__main__":
    main()
