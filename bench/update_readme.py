"""Rewrite the README's benchmark section from the Markdown tables the benchmarks wrote.

Each benchmark writes ``bench/results/NAME.json`` (figures, machine, versions, date) and
``bench/results/NAME.md`` (its table, generated from that JSON). This script splices the
tables, in a fixed order, between the ``<!-- BENCH-TABLES -->`` markers of README.md.
"""

from __future__ import annotations

import re

from bench.common import RESULTS, ROOT

ORDER = ("conversion_quality", "conversion_suite", "sim_speed", "mapping_quality", "mapping_scale", "dataflow_speed", "unet_hsdf",
         "admission", "seed_experiment", "precision", "accelerator", "codesign", "codesign_scale", "unet_em", "app_suite", "robustness", "robustness_new_entry_points",
         "cli_startup", "sdf3_compare", "statespace", "sdf3_fuzz", "report_scale", "sanafe_check")
TITLES = {"mapping_quality": "# Mapping quality (issue 3): inter-chip traffic, crossbars, hops, energy",
          "mapping_scale": "# Mapping scale (issue 3): time and memory",
          "app_suite": "# Standard SNN application suite (issue 6): one table on xbar-mesh and loihi"}
#: Results whose full file is too long for the README: cut at this line, with a pointer.
CUTS = {"mapping_quality": ("| network | hardware | partitioner",
                            "Every partitioner × placer combination: `bench/results/mapping_quality.md`."),
        "conversion_suite": ("## Accuracy (%) per T",
                             "Every net's accuracy per T, images/s and refusals: `bench/results/conversion_suite.md`."),
        "robustness": ("## Failing cases", "Every case and what it printed: `bench/results/robustness.md`."),
        "robustness_new_entry_points": ("## Failing cases", "Every case and what it printed: "
                                                            "`bench/results/robustness_new_entry_points.md`."),
        "sdf3_fuzz": ("## Disagreements", "Every disagreement with both tools' answers and the verdicts: "
                                          "`bench/results/sdf3_fuzz.md`."),
        "sanafe_check": ("## Energy per inference by source",
                         ("Energy per source and event counts of every case, and the plot: "
                          "`bench/results/sanafe_check.md`."))}
START, END = "<!-- BENCH-TABLES -->", "<!-- /BENCH-TABLES -->"


def main() -> None:
    parts = []
    for name in ORDER:
        path = RESULTS / f"{name}.md"
        if path.is_file():
            text = path.read_text().strip()
            if not text.startswith("#") and name in TITLES:
                text = f"{TITLES[name]}\n\n{text}"
            marker, pointer = CUTS.get(name, (None, ""))
            if marker is not None and marker in text:
                text = f"{text[:text.index(marker)].rstrip()}\n\n{pointer}"
            text = re.sub(r"^## ", "#### ", text, flags=re.M)
            parts.append(re.sub(r"^# ", "### ", text, flags=re.M))
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
