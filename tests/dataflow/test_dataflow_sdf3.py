import json
from fractions import Fraction
from pathlib import Path

import pytest

from spikeforge.dataflow.sdf3 import read_sdf3, to_sdf3_string, write_sdf3
from spikeforge.errors import InvalidGraphError, OutputPathError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph

SDF_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sdf"


def shared_files():
    if not (SDF_DIR / "expected.json").is_file():
        pytest.skip(f"shared SDF3 test models not found in {SDF_DIR.resolve()}")
    return sorted(json.loads((SDF_DIR / "expected.json").read_text())["graphs"])


def test_read_shared_eggs():
    shared_files()
    g = read_sdf3(SDF_DIR / "sdf_eggs.xml")
    assert [a.name for a in g.actors] == ["Clean", "Box"]
    ch0, ch1 = g.channels
    assert (ch0.src, ch0.dst, ch0.production, ch0.consumption, ch0.initial_tokens) == \
        ("Clean", "Box", 4, 10, 0)
    assert (ch1.src, ch1.dst, ch1.initial_tokens) == ("Box", "Box", 1)
    assert g.actor("Box").execution_time == 1


def test_round_trip_shared(tmp_path):
    for name in shared_files():
        g = read_sdf3(SDF_DIR / name)
        write_sdf3(g, tmp_path / name)
        assert read_sdf3(tmp_path / name) == g


def test_round_trip_mapping_and_numbers(tmp_path):
    g = DataflowGraph(
        (Actor("A", Fraction(7, 2), "xbar0"), Actor("B", 2.25, "xbar0"), Actor("C", 0)),
        (Channel("ab", "A", "B", 2, 1, 0, 8), Channel("ba", "B", "A", 1, 2, 4),
         Channel("cc", "C", "C", 1, 1, 1)),
        name="mapped", static_orders={"xbar0": ("A", "B", "B")})
    path = tmp_path / "g.xml"
    write_sdf3(g, path)
    back = read_sdf3(path)
    assert back == g
    assert isinstance(back.actor("A").execution_time, Fraction)
    assert isinstance(back.actor("B").execution_time, float)
    assert read_sdf3(to_sdf3_string(g)) == g
    assert [p.name for p in tmp_path.iterdir()] == ["g.xml"]  # no temporary file left


def test_write_failure_names_path(tmp_path):
    g = DataflowGraph((Actor("A", 1),), ())
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputPathError, match=r"g.xml: .*file is a file, not a folder"):
        write_sdf3(g, tmp_path / "file" / "g.xml")
    write_sdf3(g, tmp_path / "missing" / "g.xml")  # missing folders are made, as for every output
    assert read_sdf3(tmp_path / "missing" / "g.xml").actors[0].name == "A"


GOOD = """<sdf3 type="sdf"><applicationGraph><sdf name="g" type="G">
<actor name="A" type="t"><port name="o" type="out" rate="1"/><port name="i" type="in" rate="1"/></actor>
<channel name="c" srcActor="A" srcPort="o" dstActor="A" dstPort="i" initialTokens="1"/>
</sdf><sdfProperties><actorProperties actor="A"><processor type="p" default="true">
<executionTime time="3"/></processor></actorProperties></sdfProperties></applicationGraph></sdf3>"""


@pytest.mark.parametrize("old, new, match", [
    ('rate="1"/></actor>', 'rate="1"></actor>', "malformed XML"),
    ("<sdf3", '<!DOCTYPE x [<!ENTITY e "x">]><sdf3', "DTD or entity"),
    ('dstPort="i"', 'dstPort="nope"', "channel c: actor A has no port 'nope'"),
    ('dstActor="A"', 'dstActor="Z"', "channel c: unknown dstActor 'Z'"),
    ('dstPort="i"', 'dstPort="o"', "port A.o is not an 'in' port"),
    (' srcPort="o"', "", "channel c: <channel> lacks attribute 'srcPort'"),
    ('<port name="o" type="out" rate="1"/>', '<port name="o" type="out" rate="x"/>',
     "port o: rate must be an integer"),
    ('<port name="o" type="out" rate="1"/>', '<port name="o" type="out" rate="0"/>',
     "channel c: production rate must be >= 1, got 0"),
    ('initialTokens="1"', 'initialTokens="-1"', "initial tokens must be >= 0"),
    ('time="3"', 'time="soon"', "execution time must be a number"),
    ('<actorProperties actor="A">', '<actorProperties actor="Q">', "actorProperties of Q: unknown actor"),
    ('type="in" rate="1"/>', 'type="inout" rate="1"/>', "type must be in or out"),
])
def test_malformed_documents(old, new, match):
    assert old in GOOD
    with pytest.raises(InvalidGraphError, match=match):
        read_sdf3(GOOD.replace(old, new, 1))


def test_missing_execution_time_and_file(tmp_path):
    text = GOOD.replace('<executionTime time="3"/>', "")
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(InvalidGraphError, match=r"bad\.xml: actorProperties of A: <processor> has no"):
        read_sdf3(path)
    with pytest.raises(InvalidGraphError, match="actor A has no executionTime"):
        read_sdf3(GOOD.replace(GOOD[GOOD.index("<sdfProperties>"):GOOD.index("</applicationGraph>")], ""))
    with pytest.raises(InvalidGraphError, match="cannot read SDF3 file"):
        read_sdf3(tmp_path / "absent.xml")


def test_port_used_twice():
    text = GOOD.replace("</sdf>", '<channel name="d" srcActor="A" srcPort="o" dstActor="A" '
                        'dstPort="i"/></sdf>')
    with pytest.raises(InvalidGraphError, match="port A.o is already used by channel c"):
        read_sdf3(text)


@pytest.mark.parametrize("text, match", [
    ("<sdf3><applicationGraph/></sdf3>", "<string>: <applicationGraph> has no <sdf> element"),
    ("<sdf3/>", "<sdf3> has no <applicationGraph>"),
    ("<graph/>", "root element is <graph>, expected <sdf3>"),
])
def test_missing_structure(text, match):
    with pytest.raises(InvalidGraphError, match=match):
        read_sdf3(text)
