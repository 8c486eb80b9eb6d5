"""Rewrite the README's benchmark section from the Markdown tables the benchmarks wrote.

Each benchmark writes ``bench/results/NAME.json`` (figures, machine, versions, date) and
``bench/results/NAME.md`` (its table, generated from that JSON). This script splices the
tables, in a fixed order, between the ``<!-- BENCH-TABLES -->`` markers of README.md.
"""

from __future__ import annotations

import re

from bench.common import RESULTS, ROOT

ORDER = ("conversion_quality", "sim_speed", "mapping_quality", "mapping_scale", "dataflow_speed", "admission",
         "seed_experiment")
START, END = "<!-- BENCH-TABLES -->", "<!-- /BENCH-TABLES -->"


def main() -> None:
    parts = [(RESULTS / f"{name}.md").read_text().strip() for name in ORDER if (RESULTS / f"{name}.md").is_file()]
    body = "\n\n".join(parts) if parts else "_No benchmark results yet: run `make bench`._"
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = f"{START}\n{body}\n{END}"
    if END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        text = text.replace(START, block)
    readme.write_text(text)
    print(f"README.md: {len(parts)} benchmark tables")


if __name__ == "__main__":
    main()
