"""Run-time admission speed and quality, and design-time binding strategies, on layered SNN graphs.

Applications mimic a clustered, mapped SNN: layers of 50 clusters (actors), each cluster feeding
3 clusters of the next layer (channels of token size 4, no initial tokens) with a buffer
back-edge of 2 tokens; crossbar evaluation times vary per layer (uniform 2..10, +-30% per
cluster). About 30 clusters share a crossbar (``k = n // 30``). Platform: 4 crossbars per core,
inter-core link latency 2 and bandwidth 4 (token-size units per time unit), intra-core latency 1.

For each size (100, 1k, 10k clusters):

* design time, on ``k`` crossbars: ``in-order`` (the seed's baseline), ``load-balance``,
  ``pipeline`` and (up to 1k clusters) ``local-search``; the best is attached to the
  application (:func:`~spikeforge.dataflow.binding.with_schedule`);
* run time: a platform of ``3k`` crossbars partly occupied by another application, so the new
  one lands on whatever is free; :meth:`Runtime.admit` maps the design onto free crossbars and
  analyses it. Decision time is the wall time of ``admit`` (min and median of 7);
* quality: the admitted guarantee against ``local-search`` run directly on the same free
  crossbars (the design-time optimum there), up to 1k clusters.

Run: ``nice -n 10 python bench/admission.py [--sizes 100 1000 10000]``. Writes
bench/results/admission.json and bench/results/admission.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, write_results
from spikeforge.dataflow.binding import Platform, bind, with_schedule
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph
from spikeforge.runtime.admission import Design, Runtime

PLATFORM = dict(crossbars_per_core=4, link_latency=2, bandwidth=4, local_latency=1)


def layered_app(n: int, *, width: int = 50, fan_out: int = 3, buffer: int = 2, seed: int = 0,
                name: str | None = None) -> DataflowGraph:
    """Layered HSDF application of ``n`` clusters (see module docstring)."""
    rng = np.random.default_rng(seed)
    n_layers = -(-n // width)
    base = rng.uniform(2, 10, size=n_layers)
    times = [int(round(base[i // width] * rng.uniform(0.7, 1.3))) + 1 for i in range(n)]
    actors = tuple(Actor(f"c{i}", times[i]) for i in range(n))
    channels = []
    for layer in range(n_layers - 1):
        lo, hi = layer * width, min((layer + 1) * width, n)
        nlo, nhi = hi, min(hi + width, n)
        for i in range(lo, hi):
            for j in rng.choice(np.arange(nlo, nhi), size=min(fan_out, nhi - nlo), replace=False):
                channels.append(Channel(f"f{i}_{j}", f"c{i}", f"c{j}", 1, 1, 0, 4))
                channels.append(Channel(f"b{i}_{j}", f"c{j}", f"c{i}", 1, 1, buffer, 1))
    return DataflowGraph(actors, tuple(channels), name=name or f"layered{n}")


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run_size(n: int, repeat: int, optimum_limit: int) -> dict:
    app = layered_app(n)
    k = max(2, n // 30)
    design_platform = Platform(k, **PLATFORM)
    row: dict = {"clusters": n, "channels": len(app.channels), "crossbars": k, "design": {}}
    strategies = ["in-order", "load-balance", "pipeline"]
    if n <= optimum_limit:
        strategies.append("local-search")
    schedules = {}
    for s in strategies:
        sched, dt = timed(lambda: bind(app, design_platform, s))
        schedules[s] = sched
        row["design"][s] = {"throughput": sched.throughput, "period": sched.period, "seconds": dt}
        print(f"  {n:>6} clusters, {k} crossbars, {s:>12}: period {sched.period:8.1f} "
              f"({dt:.2f} s)", flush=True)
    base = schedules["in-order"].throughput
    best_name = max(schedules, key=lambda s: schedules[s].throughput)
    row["design_best"] = best_name
    row["speedup_vs_in_order"] = {s: sc.throughput / base for s, sc in schedules.items()}
    designed = Design.from_schedule(app, schedules[best_name], design_platform)

    # run time: 3k crossbars, an earlier application takes 2k - 2 of them (k + 2 stay free)
    platform = Platform(3 * k, **PLATFORM)
    times, result = [], None
    for i in range(repeat):
        rt = Runtime(platform)
        rt.admit(layered_app(60, name="earlier", seed=1), crossbars=2 * k - 2)
        result = rt.admit(designed)
        assert result.admitted, result.reason
        times.append(result.decision_ms)
    # the same design without its analysis (a bare graph with a schedule): Howard runs
    bare_times = []
    for i in range(repeat):
        rt = Runtime(platform)
        rt.admit(layered_app(60, name="earlier", seed=1), crossbars=2 * k - 2)
        bare = rt.admit(with_schedule(app, schedules[best_name]))
        bare_times.append(bare.decision_ms)
    greedy_times = []
    for i in range(repeat):
        rt = Runtime(platform)
        rt.admit(layered_app(60, name="earlier", seed=1), crossbars=2 * k - 2)
        greedy = rt.admit(app, crossbars=k)
        greedy_times.append(greedy.decision_ms)
    row["admission"] = {
        "decision_ms_min": min(times), "decision_ms_median": statistics.median(times),
        "throughput": result.throughput, "crossbars": list(result.crossbars),
        "reused_design_analysis": result.reused_design_analysis,
        "no_reuse_decision_ms_min": min(bare_times),
        "no_reuse_decision_ms_median": statistics.median(bare_times),
        "no_reuse_throughput": bare.throughput,
        "greedy_decision_ms_min": min(greedy_times),
        "greedy_decision_ms_median": statistics.median(greedy_times),
        "greedy_throughput": greedy.throughput,
    }
    if n <= optimum_limit:
        opt, dt = timed(lambda: bind(app, platform, "local-search", crossbars=result.crossbars))
        row["admission"]["optimum_same_free_crossbars"] = opt.throughput
        row["admission"]["optimum_seconds"] = dt
        row["admission"]["ratio_to_optimum"] = result.throughput / opt.throughput
    print(f"  {n:>6} clusters: admission {min(times):.1f} ms (median "
          f"{statistics.median(times):.1f}), guarantee {result.throughput:.5g}"
          + (f", {row['admission']['ratio_to_optimum']:.3f} of the optimum"
             if "ratio_to_optimum" in row["admission"] else ""), flush=True)
    return row


def markdown(rows: list[dict], load: tuple) -> str:
    lines = ["# Admission and binding benchmark", "",
             f"Load average (1, 5, 15 min) at the end: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f} "
             "(2 cores, shared). Run with `nice -n 10`.", "",
             "## Design time: guaranteed throughput relative to the seed's in-order baseline", "",
             "| clusters | crossbars | in-order period | load-balance | pipeline | local-search | "
             "best / in-order |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        d = r["design"]
        cell = lambda s: f"{d[s]['period']:.1f}" if s in d else "–"
        lines.append(f"| {r['clusters']} | {r['crossbars']} | {cell('in-order')} | "
                     f"{cell('load-balance')} | {cell('pipeline')} | {cell('local-search')} | "
                     f"{max(r['speedup_vs_in_order'].values()):.2f}x |")
    lines += ["", "(periods: time per iteration; lower is better)", "",
              "## Run-time admission (design-time orders reused on the free crossbars)", "",
              "`Design` admission maps the design's virtual cores onto whole free cores; when every "
              "channel's transfer time is unchanged the bound graph equals the analysed one up to "
              "names, so the design-time period is exact and no max-plus iteration runs "
              "(`reused_design_analysis`). 'no reuse' admits the same schedule as a bare graph "
              "(Howard's algorithm, warm-started from the busiest crossbar's static order).", "",
              "| clusters | decision ms (min / median) | reused analysis | guarantee | "
              "optimum on same crossbars | ratio | no reuse ms (min) | greedy admit ms (no design) |",
              "|---:|---:|:---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        a = r["admission"]
        opt = a.get("optimum_same_free_crossbars")
        head = (f"| {r['clusters']} | {a['decision_ms_min']:.2f} / {a['decision_ms_median']:.2f} | "
                f"{'yes' if a['reused_design_analysis'] else 'no'} | {a['throughput']:.5g} | ")
        lines.append(head + (f"{opt:.5g} | {a['ratio_to_optimum']:.3f} |" if opt else "– | – |")
                     + f" {a['no_reuse_decision_ms_min']:.1f} | {a['greedy_decision_ms_min']:.1f} |")
    lines += ["", "Targets: decision <= 10 ms at 1,000 clusters; guarantee within 10% of the "
              "design-time optimum on the same free crossbars; best design >= 1.5x in-order."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--optimum-limit", type=int, default=1_000,
                        help="largest size for which local-search is run (slow)")
    args = parser.parse_args()
    rows = [run_size(n, args.repeat, args.optimum_limit) for n in args.sizes]
    load = os.getloadavg()
    write_results("admission", {"load_average_1_5_15": load, "platform": PLATFORM,
                                "graph": "layered HSDF, width 50, fan-out 3, buffer 2, ~30 "
                                         "clusters per crossbar", "results": rows})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "admission.md").write_text(markdown(rows, load))
    print(markdown(rows, load))


if __name__ == "__main__":
    main()
