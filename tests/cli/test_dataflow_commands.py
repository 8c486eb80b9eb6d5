import json
from fractions import Fraction
from pathlib import Path

import pytest
from rich.console import Console

from spikeforge.cli import build_parser, main
from spikeforge.dataflow.sdf3 import to_sdf3_string, write_sdf3
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
    default, _ = run(["analyse", str(tmp_path / "ring.xml")])
    assert default["throughput"] == "2/5"  # integer times: exact without asking
    write_sdf3(DataflowGraph((Actor("A", 2.5), Actor("B", 3)), g.channels, name="ring"),
               tmp_path / "float.xml")
    floats, _ = run(["analyse", str(tmp_path / "float.xml")])
    assert floats["throughput"] == pytest.approx(1 / 2.75)
    exact, _ = run(["analyse", str(tmp_path / "float.xml"), "--exact"])
    assert exact["throughput"] == "4/11"


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


def test_analyse_processor_rule_warning_and_choice(tmp_path, capsys):
    text = to_sdf3_string(DataflowGraph((Actor("A", 2), Actor("B", 3)),
                                        (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1))))
    two = '<processor type="fast" default="true"><executionTime time="1"/></processor>' \
          '<processor type="slow" default="false"><executionTime time="4"/></processor>'
    text = text.replace('<processor type="p" default="true">\n          <executionTime time="2"/>'
                        '\n        </processor>', two)
    text = text.replace('<processor type="p" default="true">\n          <executionTime time="3"/>',
                        '<processor type="fast"><executionTime time="3"/></processor>'
                        '<processor type="slow" default=""><executionTime time="3"/>')
    (tmp_path / "g.xml").write_text(text)
    assert main(["analyse", str(tmp_path / "g.xml"), "--exact"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith("warning:")] == [
        f"warning: {tmp_path / 'g.xml'}: 1 actor(s) have several <processor> elements with a default "
        "attribute; SDF3 uses the last (choose with --processor TYPE): A (fast, slow -> slow)"]
    report, _ = run(["analyse", str(tmp_path / "g.xml"), "--exact"])
    assert Fraction(report["period"]) == 7  # SDF3's choice: A takes 4 (slow), B 3
    report, _ = run(["analyse", str(tmp_path / "g.xml"), "--exact", "--processor", "fast"])
    assert Fraction(report["period"]) == 4
    assert main(["analyse", str(tmp_path / "g.xml"), "--processor", "gpu"]) == 2
    assert "actor A has no processor of type 'gpu' (it has fast, slow)" in capsys.readouterr().err


def test_analyse_summarises_large_graphs_and_says_when_the_search_stops(tmp_path):
    """Past 20 actors the repetition vector is grouped by count (every actor still in JSON);
    a buffer search cut short by --max-steps says so instead of passing for complete."""
    n = 30
    actors = tuple(Actor(f"a{i}", 1 + i % 4) for i in range(n))
    # a chain of rates 2 -> 1 then 1 -> 2 (actors alternate between 1 and 2 firings), each actor
    # serialised by a self-loop: its Pareto points are (118, 1/11), (125, 1/9), (132, 1/8)
    chain = tuple(Channel(f"c{i}", f"a{i}", f"a{i + 1}", *((2, 1) if i % 2 == 0 else (1, 2)))
                  for i in range(n - 1))
    loops = tuple(Channel(f"s{i}", f"a{i}", f"a{i}", 1, 1, 1) for i in range(n))
    write_sdf3(DataflowGraph(actors, chain + loops, name="chain30"), tmp_path / "ring.xml")
    report, text = run(["analyse", str(tmp_path / "ring.xml"), "--max-steps", "1",
                        "--json", str(tmp_path / "r.json")])
    assert "45 firings of 30 actors" in text and "│ a1, a3, a5, ... │" in text
    assert len(json.loads((tmp_path / "r.json").read_text())["repetition_vector"]) == n
    assert report["buffer_tradeoff_complete"] is False
    assert "--max-steps 1 ran out before the throughput of unbounded buffers" in text
    full, text = run(["analyse", str(tmp_path / "ring.xml")])
    assert full["buffer_tradeoff_complete"] is True and "ran out" not in text
    assert [p["throughput"] for p in full["buffer_tradeoff"]] == ["1/11", "1/9", "1/8"]
    write_sdf3(DataflowGraph((Actor("a", 1),), ()), tmp_path / "lonely.xml")
    lonely, text = run(["analyse", str(tmp_path / "lonely.xml")])  # nothing to bound: nothing left out
    assert lonely["buffer_tradeoff"] == [] and lonely["buffer_tradeoff_complete"] is True
