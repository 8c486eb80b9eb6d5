import json
from pathlib import Path

import pytest
from rich.console import Console

from spikeforge.cli import build_parser, main
from spikeforge.dataflow.sdf3 import write_sdf3
from spikeforge.errors import (
    DeadlockError,
    InvalidGraphError,
)
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

SDF_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sdf"


def run(argv):
    args = build_parser().parse_args(argv)
    console = Console(record=True, width=120)
    report = args.run(args, console)
    return report, console.export_text()


def test_analyse_prints_tables_and_writes_json(tmp_path):
    g = DataflowGraph((Actor("A", 2), Actor("B", 3)),
                      (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 2)), name="ring")
    write_sdf3(g, tmp_path / "ring.xml")
    report, text = run(["analyse", str(tmp_path / "ring.xml"), "--exact",
                        "--json", str(tmp_path / "out" / "r.json")])
    assert "2/5 (0.4)" in text and "repetition vector" in text and "Pareto" in text
    saved = json.loads((tmp_path / "out" / "r.json").read_text())
    assert saved["throughput"] == "2/5" and saved["period"] == "5/2"
    assert saved["repetition_vector"] == {"A": 1, "B": 1} and saved["latency"] == 5
    assert saved["critical_cycle"]["actors"] == ["A", "B"]
    sizes = [p["total_size"] for p in saved["buffer_tradeoff"]]
    assert sizes == sorted(sizes) and saved["buffer_tradeoff"][-1]["throughput"] == "2/5"
    floats, _ = run(["analyse", str(tmp_path / "ring.xml")])
    assert floats["throughput"] == pytest.approx(0.4)


def test_analyse_shared_eggs_and_deadlock():
    if not (SDF_DIR / "expected.json").is_file():
        pytest.skip("shared SDF3 models not found")
    report, _ = run(["analyse", str(SDF_DIR / "sdf_eggs.xml"), "--exact"])
    assert report["throughput"] == "1/2" and report["repetition_vector"] == {"Clean": 5, "Box": 2}
    with pytest.raises(DeadlockError, match=r"cycle A -> B -> C -> A is blocked"):
        run(["analyse", str(SDF_DIR / "sdf_deadlock.xml")])


def test_analyse_bad_file(tmp_path):
    with pytest.raises(InvalidGraphError, match="missing.xml"):
        run(["analyse", str(tmp_path / "missing.xml")])


def test_analyse_shows_bracketed_names_and_rejects_negative_steps(tmp_path, capsys):
    g = DataflowGraph((Actor("c[0]", 2), Actor("link[c0>c1]", 3)),
                      (Channel("to[link]", "c[0]", "link[c0>c1]", 1, 1),
                       Channel("back", "link[c0>c1]", "c[0]", 1, 1, 2)), name="links")
    write_sdf3(g, tmp_path / "links.xml")
    _, text = run(["analyse", str(tmp_path / "links.xml")])
    assert "c[0] -> link[c0>c1]" in text and "to[link]" in text  # not eaten as rich markup
    for steps, message in (("-1", "must be an integer ≥ 0, got -1"), ("100000", "at most 10,000 is supported")):
        assert main(["analyse", str(tmp_path / "links.xml"), "--max-steps", steps]) == 2
        assert f"spikeforge analyse: error: argument --max-steps: {message}" in capsys.readouterr().err
