"""Time :func:`spikeforge.dataflow.analysis.throughput` on random layered HSDF graphs.

Times cover ``throughput()`` only (repetition vector, deadlock check, Howard iteration);
graph construction, which validates the graph and builds its index arrays, is reported
separately. Graphs mimic a mapped SNN: a chain of layers of clusters (actors); each cluster feeds a few
clusters of the next layer; every channel has a back-edge with 2 tokens (its buffer) and
every actor a self-loop with one token. Writes bench/results/dataflow_speed.{json,md}.

Run: ``python bench/dataflow_speed.py [--sizes 1000 10000 100000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, write_results
from bench.sdf_graphs import layered_graph
from spikeforge.dataflow.analysis import throughput


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        t0 = time.perf_counter()
        graph = layered_graph(n)
        build = time.perf_counter() - t0
        runs, cpu = [], []
        for _ in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            result = throughput(graph)
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        rows.append({"actors": n, "channels": len(graph.channels),
                     "generate_and_construct_s": build,
                     "throughput_s_min": min(runs), "throughput_s_all": runs,
                     "throughput_cpu_s_min": min(cpu),
                     "period": float(result.period),
                     "critical_cycle_length": len(result.critical_cycle.actors)})
        print(f"{n:>7} actors, {len(graph.channels):>7} channels: throughput() "
              f"{min(runs) * 1e3:8.1f} ms wall, {min(cpu) * 1e3:8.1f} ms CPU (min of {args.repeat}), "
              f"period {float(result.period):g}")
    targets = {10_000: 0.1, 100_000: 2.0}
    for row in rows:
        limit = targets.get(row["actors"])
        row["target_s"] = limit
        row["target_met"] = None if limit is None else row["throughput_s_min"] <= limit
    load = os.getloadavg()
    write_results("dataflow_speed", {
        "load_average_1_5_15": load,
        "graph": "layered HSDF, layers of 100 actors, fan-out 3, back-edge with 2 tokens per "
                 "channel, self-loop per actor, execution times uniform 1..19",
        "results": rows})
    lines = ["# Max-Plus throughput analysis speed (issue 4)", "",
             f"`throughput()` on layered HSDF graphs shaped like a mapped SNN (self-loop per actor, buffer "
             f"back-edges). Wall time, min of {args.repeat}; load average at the end {load[0]:.2f}.", "",
             "| actors | channels | wall ms | CPU ms | target | met |", "|---:|---:|---:|---:|---:|:---:|"]
    for row in rows:
        limit = row["target_s"]
        lines.append(f"| {row['actors']:,} | {row['channels']:,} | {row['throughput_s_min'] * 1e3:,.1f} | "
                     f"{row['throughput_cpu_s_min'] * 1e3:,.1f} | {'' if limit is None else f'≤ {limit * 1e3:,.0f} ms'} | "
                     f"{'' if limit is None else ('yes' if row['target_met'] else 'no')} |")
    (RESULTS / "dataflow_speed.md").write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
