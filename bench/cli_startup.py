"""Start-up time of the ``spikeforge`` command: ``--help`` and ``analyse`` on a small SDF3 graph.

Whole-process wall time (interpreter start, imports, parsing, the work, exit), median of N runs,
the way a user waits for it. Also records which heavy modules each command imported (torch must
not be among them). Targets (issue 18): ``--help`` ≤ 0.3 s, ``analyse`` ≤ 0.5 s.
Writes bench/results/cli_startup.{json,md}.

Run: ``python -m bench.cli_startup [--runs 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import RESULTS, write_results

TARGETS = {"--help": 0.3, "analyse": 0.5}
#: Before the CLI package (issue 18's measurement, median of 5, torch imported by every command).
BEFORE = {"--help": 4.7, "analyse": 4.3}
HEAVY = ("torch", "numpy", "scipy", "networkx", "pydantic", "rich", "beartype")


def small_graph() -> str:
    """The 3-actor producer/filter/consumer graph of the issue, as SDF3 XML."""
    from spikeforge.dataflow.sdf3 import to_sdf3_string
    from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

    return to_sdf3_string(DataflowGraph(
        (Actor("P", 2), Actor("F", 3), Actor("C", 1)),
        (Channel("pf", "P", "F", 1, 1), Channel("fp", "F", "P", 1, 1, 2), Channel("fc", "F", "C", 1, 1),
         Channel("cf", "C", "F", 1, 1, 2)), name="g"))


#: Runs the CLI like the console script does, then reports which heavy modules it imported.
PROBE = ("import sys\nfrom spikeforge.cli import main\nstatus = main(sys.argv[1:])\n"
         "import json\nprint(json.dumps(sorted(m for m in {heavy} if m in sys.modules)), file=sys.stderr)\n"
         "sys.exit(status)\n")


def wall_times(argv: list[str], runs: int) -> list[float]:
    """Seconds of ``runs`` whole-process runs of the installed ``spikeforge`` script."""
    script = Path(sys.executable).with_name("spikeforge")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([str(script), *argv], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def imported(argv: list[str]) -> list[str]:
    """The heavy modules a run of ``spikeforge ARGV`` imports."""
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        graph = Path(tmp) / "g.xml"
        graph.write_text(small_graph())
        commands = {"--help": ["--help"], "analyse": ["analyse", str(graph)]}
        rows = []
        for name, argv in commands.items():
            wall_times(argv, 1)  # warm the page cache and the bytecode cache
            times = wall_times(argv, args.runs)
            median = statistics.median(times)
            rows.append({"command": f"spikeforge {' '.join(argv[:1])}", "median_s": median, "min_s": min(times),
                         "runs": args.runs, "target_s": TARGETS[name], "met": median <= TARGETS[name],
                         "before_s": BEFORE[name],
                         "imports": imported(argv)})
    write_results("cli_startup", {"rows": rows})
    lines = ["# CLI start-up (issue 18): whole-process wall time", "",
             f"Median of {args.runs} runs of the installed `spikeforge` script after one warm-up run; "
             "`analyse` on a 3-actor SDF3 graph.", "",
             "| command | median | min | before (issue 18) | target | met | heavy modules imported |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['command']}` | {r['median_s']:.3f} s | {r['min_s']:.3f} s | {r['before_s']} s | "
                     f"≤ {r['target_s']} s | "
                     f"{'yes' if r['met'] else '**no**'} | {', '.join(r['imports']) or 'none'} |")
    (RESULTS / "cli_startup.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
