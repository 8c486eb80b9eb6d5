"""The HTML report without a browser: its numbers equal the input's, it references nothing
outside the file, large mappings are aggregated, and bad input is one line with nothing written."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from report_helpers import run

from spikeforge.artifact import load_artifact
from spikeforge.cli import main
from spikeforge.errors import (
    InputPathError,
    InvalidHardwareSpecError,
    ModelFileError,
    OutputPathError,
)
from spikeforge.mapping.place import place
from spikeforge.mapping.report import interchip_bound, link_loads, traffic_summary
from spikeforge.report import mesh
from spikeforge.report.page import render_page
from spikeforge.report.runs import artifact_page
from spikeforge.report.sources import CHOSEN_ACCURACY_DROP, load_report, sweep_page


class _Values(HTMLParser):
    """``data-key`` → (``data-value``, text) of every keyed element; the ids of figures."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, tuple[str | None, str]] = {}
        self.figures: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-figure" in a:
            self.figures.append(a["data-figure"])
        if "data-key" in a:
            self._open.append(a["data-key"])
            self.values[a["data-key"]] = (a.get("data-value"), "")

    def handle_data(self, data):
        if self._open:
            key = self._open[-1]
            self.values[key] = (self.values[key][0], self.values[key][1] + data)

    def handle_endtag(self, tag):
        if self._open and tag == "td":
            self._open.pop()


def values(html: str) -> _Values:
    parser = _Values()
    parser.feed(html)
    return parser


def number(v: tuple[str | None, str]) -> float:
    return float(json.loads(v[0]))


def test_compile_report_numbers_equal_the_artifact(inputs):
    html = (inputs["dir"] / "compile.html").read_text()
    doc = json.loads((inputs["artifact"] / "artifact.json").read_text())
    f, g = doc["figures"], doc["figures"]["guarantee"]
    v = values(html).values
    assert number(v["guarantee.period_ns"]) == g["period_ns"]
    assert number(v["guarantee.inferences_per_s"]) == g["inferences_per_s"]
    assert number(v["guarantee.latency_ns"]) == g["latency_ns"]
    assert v["guarantee.bottleneck"][1] == g["bottleneck"]
    assert number(v["energy.total_j"]) == f["energy_per_inference_j"]
    assert number(v["accuracy"]) == f["accuracy"]
    assert number(v["mapping.clusters"]) == len(doc["mapping"]["clusters"]) == f["resources"]["clusters"]
    assert number(v["mapping.chips"]) == f["resources"]["chips"] > 1  # round-robin on 4 chips
    assert f"{g['period_ns']:,.1f} ns" in v["guarantee.period_ns"][1]
    assert v["dataflow.critical"][1] == " → ".join(g["critical_actors"])
    for label, shown in f["energy"].items():  # as the CLI printed them
        assert shown in html, label


def test_compile_report_has_every_figure_and_the_profile(inputs):
    html = (inputs["dir"] / "compile.html").read_text()
    figures = values(html).figures
    assert set(figures) >= {"mesh", "interchip-matrix", "traffic-bound", "dataflow-graph", "gantt", "energy-chart"}
    c = inputs["compiled"]
    rates = re.findall(r'<td class=num data-value="([^"]+)">0\.\d{4}</td>', html)
    neuron_layers = [layer for layer in c.profile.layers if layer.neurons]
    assert len(rates) == len(neuron_layers)  # a firing rate per neuron layer, from the live profile
    expected = [layer.spikes / (c.profile.samples * c.profile.timesteps * layer.neurons) for layer in neuron_layers]
    assert sorted(map(float, rates)) == pytest.approx(sorted(expected))
    bound = interchip_bound(c.placement.partition, c.hardware.crossbars_per_chip).total
    assert number(values(html).values["traffic.bound"]) == pytest.approx(bound)


def test_artifact_report_without_the_profile_says_so(inputs, tmp_path):
    out = tmp_path / "r.html"
    assert main(["report", str(inputs["artifact"]), "-o", str(out)]) == 0
    html = out.read_text()
    assert "not stored in the artifact" in html
    v = values(html).values
    a = load_artifact(inputs["artifact"])
    chip = a.arrays["cluster_core"] // a.hardware.cores_per_chip
    row, col, w = a.arrays["traffic_row"], a.arrays["traffic_col"], a.arrays["traffic_spikes"]
    achieved = float(w[chip[row] != chip[col]].sum()) * a.timesteps
    assert number(v["traffic.interchip"]) == pytest.approx(achieved)
    assert 0 <= number(v["traffic.bound"]) <= achieved


def test_map_report_matches_the_placement_json(inputs, tmp_path):
    doc = json.loads(inputs["placement"].read_text())
    r = doc["report"]
    for html in ((inputs["dir"] / "map.html").read_text(), render_page(load_report(inputs["placement"]))):
        v = values(html).values
        assert number(v["traffic.interchip"]) == pytest.approx(r["spikes_between_chips"] + r["partial_sums_between_chips"])
        assert number(v["traffic.bound"]) == r["interchip_traffic_bound"]
        assert number(v["report.max_link_load"]) == r["max_link_load"]
        assert number(v["energy.total"]) == r["energy_j"]["total"]
        assert number(v["mapping.clusters"]) == len(doc["clusters"])


def test_codesign_report_marks_the_chosen_point(inputs):
    html = (inputs["dir"] / "codesign.html").read_text()
    rows = list(csvrows(inputs["codesign"] / "sweep.csv"))
    front = [r for r in rows if r["on_front"] == "1"]
    best = max(float(r["accuracy"]) for r in front)
    chosen = min((r for r in front if float(r["accuracy"]) >= best - CHOSEN_ACCURACY_DROP),
                 key=lambda r: (float(r["energy_j"]), float(r["latency_s"])))
    v = values(html).values
    assert v["codesign.chosen"][1].startswith(f"{chosen['weight_bits']}b T{chosen['timesteps']} {chosen['pes']}PE")
    assert number(v["codesign.points"]) == len(rows) and number(v["codesign.front"]) == len(front)
    assert {"pareto-chart", "accuracy-chart"} <= set(values(html).figures)
    assert html.count("★") == 2  # the table row, and the legend of the table
    with pytest.raises(Exception, match="accuracy drop 2: must be in"):
        sweep_page(rows, "x", accuracy_drop=2)


def csvrows(path: Path):
    import csv

    with open(path, newline="") as f:
        yield from csv.DictReader(f)


@pytest.mark.parametrize("kind", ["compile.html", "map.html", "analyse.html", "codesign.html"])
def test_report_references_nothing_outside_the_file(inputs, kind):
    html = (inputs["dir"] / kind).read_text()
    assert not re.findall(r'\b(?:src|href)\s*=\s*"(?!data:|#)', html)
    assert not re.findall(r'url\((?!#|data:)', html)
    assert "<link" not in html and "@import" not in html
    assert "Content-Security-Policy" in html  # and the page forbids it besides


def test_link_traffic_agrees_with_the_busiest_link_of_map(inputs):
    c = inputs["compiled"]
    for placer in ("round-robin", "fill", "min-cut"):
        pl = place(c.partition, c.hardware.with_chips(4), strategy=placer)
        part = pl.partition
        view = mesh.MappingView(pl.hardware, part.timesteps, pl.cluster_core, np.asarray(part.cluster_layer),
                                tuple(part.layers), part.cluster_columns, *part.edges())
        grid = mesh.link_grid(view)
        t, q = part.traffic.tocoo(), part.partial_traffic.tocoo()
        keep = t.row != t.col
        best, _ = link_loads(pl, np.concatenate([t.row[keep], q.row]), np.concatenate([t.col[keep], q.col]),
                             np.concatenate([t.data[keep], q.data]) * part.timesteps)
        assert max(a.max(initial=0) for a in grid.values()) == pytest.approx(best)
        report = traffic_summary(pl)
        _, m = mesh.chip_matrix(view)
        assert m.sum() == pytest.approx(view.interchip_traffic())
        assert view.interchip_traffic() == pytest.approx(report.spikes_between_chips + report.partial_sums_between_chips)
        bound = mesh.stream_bound(view.src, view.dst, view.tokens, view.clusters, pl.hardware.crossbars_per_chip)
        assert bound * part.timesteps <= view.interchip_traffic() + 1e-9


def test_stream_bound_by_hand():
    # cluster 0 streams 1, 2, 3 to clusters 1, 2, 3; chips of 2 clusters keep at most the largest
    src, dst, tok = np.array([0, 0, 0]), np.array([1, 2, 3]), np.array([1.0, 2.0, 3.0])
    assert mesh.stream_bound(src, dst, tok, 4, 2) == 3.0
    assert mesh.stream_bound(src, dst, tok, 4, 4) == 0.0
    assert mesh.stream_bound(src, dst, tok, 4, 1) == 6.0


def test_large_mappings_are_aggregated_per_chip(inputs, monkeypatch):
    a = load_artifact(inputs["artifact"])
    small = render_page(artifact_page(a))
    assert 'data-view="clusters"' in small
    assert len(re.findall(r'data-cluster="\d+"', small)) == len(a.document["mapping"]["clusters"])
    monkeypatch.setattr(mesh, "SHOW_CLUSTERS", 1)
    big = render_page(artifact_page(a))
    assert 'data-view="chips"' in big and "data-cluster=" not in big
    per_chip = [int(n) for n in re.findall(r'data-chip="\d+" data-clusters="(\d+)"', big)]
    assert len(per_chip) == a.hardware.board.chips and sum(per_chip) == len(a.document["mapping"]["clusters"])


def test_demo_and_graph_reports(inputs):
    demo = render_page(load_report(inputs["demo"]))
    results = json.loads((inputs["demo"] / "results.json").read_text())
    v = values(demo).values
    for label, m in results["models"].items():
        assert number(v[f"demo.ann.{label}"]) == m["ann_accuracy"]
    assert "accuracy-chart" in values(demo).figures
    graph = render_page(load_report(inputs["graph"]))
    doc = json.loads(inputs["analyse"].read_text())
    v = values(graph).values
    assert number(v["analyse.period"]) == pytest.approx(float(Fraction(str(doc["period"]))))
    assert v["analyse.bottleneck"][1] == " → ".join(doc["critical_cycle"]["actors"])
    assert {"dataflow-graph", "gantt"} <= set(values(graph).figures)


# --- bad input: one line, non-zero exit, nothing written ---------------------------------------------

@pytest.mark.parametrize("make, error, match", [
    (lambda d: d / "missing", InputPathError, "missing: no such file or folder"),
    (lambda d: _write(d / "notes.txt", "hello"), ModelFileError, "notes.txt: not valid JSON"),
    (lambda d: _write(d / "other.json", '{"format": "x"}'), ModelFileError, "not a spikeforge placement"),
    (lambda d: _mkdir(d / "folder"), ModelFileError, "folder: not a compile artifact"),
    (lambda d: _write(_mkdir(d / "cd") / "sweep.csv", "weight_bits,timesteps\n2,x\n").parent, ModelFileError,
     "row 2: not a co-design sweep row"),
    (lambda d: _write(_mkdir(d / "half") / "artifact.json", "{}").parent, ModelFileError, "format is None"),
    (lambda d: _placement(d, hardware="no-such-hw"), InvalidHardwareSpecError, "no-such-hw: unknown hardware"),
    (lambda d: _placement(d, clusters=[]), ModelFileError, "p.json: no clusters"),
    (lambda d: _placement(d, clusters=[{"core": 128}]), ModelFileError, "core outside the 128 cores of loihi"),
    (lambda d: _placement(d, edges=[[0, 5, 1.0]]), ModelFileError, "an edge names a cluster that does not exist"),
    (lambda d: _placement(d, clusters=[{"pieces": []}]), ModelFileError, "malformed clusters or edges"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, make, error, match):
    source = make(tmp_path)
    with pytest.raises(error, match=match):
        load_report(source)
    out = tmp_path / "out" / "r.html"
    assert main(["report", str(source), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("spikeforge report: error: ") and match.split(":")[-1].strip() in err
    assert not out.exists() and not (tmp_path / "out").exists()


def test_report_output_paths_are_checked_before_any_work(inputs, tmp_path, capsys):
    with pytest.raises(OutputPathError, match="lies inside the input"):
        run(["report", str(inputs["artifact"]), "-o", str(inputs["artifact"] / "r.html")])
    with pytest.raises(OutputPathError, match="is a folder"):
        run(["report", str(inputs["artifact"]), "-o", str(tmp_path)])
    # --report inside compile's own output folder: refused before the pipeline runs
    with pytest.raises(OutputPathError, match="lies inside the output"):
        run(["compile", str(inputs["dir"] / "digits.pt"), "--hw", "xbar-mesh", "--calib", "digits:train",
             "-o", str(tmp_path / "app"), "--report", str(tmp_path / "app" / "r.html")])
    assert not (tmp_path / "app").exists()
    with pytest.raises(OutputPathError, match="is or lies inside the output"):  # map's JSON itself
        run(["map", str(inputs["dir"] / "snn"), "--hw", "xbar-mesh", "--calib", "digits:train", "-o",
             str(tmp_path / "p.json"), "--report", str(tmp_path / "p.json")])
    assert list(tmp_path.iterdir()) == []
    assert sorted(p.name for p in inputs["artifact"].iterdir()) == [".spikeforge", "application.xml", "arrays.npz",
                                                                     "artifact.json", "graph.xml", "snn"]


def test_an_existing_report_is_replaced_whole(inputs, tmp_path):
    out = tmp_path / "r.html"
    out.write_text("old")
    assert main(["report", str(inputs["codesign"]), "-o", str(out)]) == 0
    assert out.read_text().startswith("<!DOCTYPE html>") and out.read_text().rstrip().endswith("</html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temporary left


def _placement(folder: Path, **fields) -> Path:
    """A placement JSON of one cluster of one neuron on `loihi`, with ``fields`` changed."""
    piece = {"layer": "a", "part": 0, "channels": [0, 1], "rows": [0, 1], "cols": [0, 1]}
    doc = {"format": "spikeforge-placement/1", "network": "n", "hardware": "loihi", "chips": 1, "timesteps": 1,
           "clusters": [{"core": 0, "columns": 1, "pieces": [piece]}], "edges": []} | fields
    return _write(folder / "p.json", json.dumps(doc))


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path
