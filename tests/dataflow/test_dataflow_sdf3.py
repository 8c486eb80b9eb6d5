import json
import warnings
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --------------------------------------------------------------------------------------------
# SDF3's semantics: the examples, the processor rule, --processor

def test_shared_examples_give_sdf3_throughputs():
    from spikeforge.dataflow.analysis import throughput
    from spikeforge.errors import DeadlockError

    expected = {name: v for name, v in ((n, json.loads((SDF_DIR / "expected.json").read_text())
                                         ["graphs"][n]) for n in shared_files())}
    for name, want in expected.items():
        g = read_sdf3(SDF_DIR / name)
        if want.get("deadlock"):
            with pytest.raises(DeadlockError):
                throughput(g, exact=True)
            continue
        result = throughput(g, exact=True)
        assert result.throughput == Fraction(want["throughput"]), name
        if "repetition_vector" in want:
            assert dict(result.repetition_vector) == want["repetition_vector"], name


def processors(*procs):
    """GOOD with actor A's <processor> elements replaced by ``procs``."""
    old = '<processor type="p" default="true">\n<executionTime time="3"/></processor>'
    assert old in GOOD
    return GOOD.replace(old, "".join(procs))


def proc(kind, time, default=None):
    attr = "" if default is None else f' default="{default}"'
    return f'<processor type="{kind}"{attr}><executionTime time="{time}"/></processor>'


def test_last_processor_with_a_default_attribute_wins_and_warns():
    from spikeforge.errors import SDF3AmbiguityWarning

    text = processors(proc("p", 3, "true"), proc("q", 5, "false"), proc("r", 7))
    with pytest.warns(SDF3AmbiguityWarning, match=r"1 actor\(s\) have several <processor> .*: A \(p, q -> q\)"):
        assert read_sdf3(text).actor("A").execution_time == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one candidate, or a chosen type: no warning
        assert read_sdf3(processors(proc("p", 3), proc("q", 5, "no"))).actor("A").execution_time == 5
        assert read_sdf3(text, processor="r").actor("A").execution_time == 7
    with pytest.warns(SDF3AmbiguityWarning, match=r"no <processor> with a default .* time 0.*: A \(p, q\)"):
        assert read_sdf3(processors(proc("p", 3), proc("q", 5))).actor("A").execution_time == 0


@pytest.mark.parametrize("text, kw, match", [
    (processors(proc("p", 3, "true")), {"processor": "z"}, "actor A has no processor of type 'z' "
                                                          r"\(it has p\)"),
    (processors(proc("p", 3, "true"), proc("p", 4)), {}, "actorProperties of A: processor type 'p' is listed twice"),
    (processors('<processor default="true"><executionTime time="1"/></processor>'), {},
     "actorProperties of A: <processor> lacks attribute 'type'"),
])
def test_processor_errors(text, kw, match):
    with pytest.raises(InvalidGraphError, match=match):
        read_sdf3(text, **kw)


# --------------------------------------------------------------------------------------------
# the two readers: the writer's layout (regular expressions) and any other document (tree)

NAMES = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Cn")) | st.sampled_from('&<>"\' \t\n'),
                min_size=1, max_size=6)


@st.composite
def graphs(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=6, unique=True))
    times = st.one_of(st.integers(0, 10**6), st.fractions(0, 100).filter(lambda f: f.denominator > 1),
                      st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
    actors = [Actor(n, draw(times), draw(st.none() | st.sampled_from(["x0", "x<1>"])))
              for n in names]
    channels = []
    for k in range(draw(st.integers(0, 8))):
        channels.append(Channel(f"c{k}{draw(NAMES)}", draw(st.sampled_from(names)),
                                draw(st.sampled_from(names)), draw(st.integers(1, 2**31 - 1)),
                                draw(st.integers(1, 5)), draw(st.integers(0, 2**53)),
                                draw(st.integers(1, 2**31 - 1))))
    orders = {}
    for proc_ in {a.processor for a in actors if a.processor is not None}:
        bound = [a.name for a in actors if a.processor == proc_]
        orders[proc_] = tuple(bound + draw(st.lists(st.sampled_from(bound), max_size=2)))
    return DataflowGraph(tuple(actors), tuple(channels), name=draw(NAMES | st.just("")) or "g",
                         static_orders=orders)


@settings(max_examples=150, deadline=None)
@given(graphs())
def test_both_readers_read_back_what_was_written(g):
    from spikeforge.dataflow import sdf3

    text = to_sdf3_string(g)
    assert read_sdf3(text) == g
    # a comment takes the document out of the writer's layout: the tree parser reads it
    other = text.replace("<sdfProperties>", "<!-- c --><sdfProperties>", 1)
    assert sdf3._scan_layout(other) is None
    assert read_sdf3(other) == g
    # the layout reader takes every document the writer makes without a character reference
    assert (sdf3._scan_layout(text) is not None) == ("&" not in text)


@pytest.mark.parametrize("old, new, match", [
    ('rate="1"/></actor>', 'rate="1"></actor>', "malformed XML"),
    ('dstPort="i"', 'dstPort="nope"', "channel c: actor A has no port 'nope'"),
    ('dstActor="A"', 'dstActor="Z"', "channel c: unknown dstActor 'Z'"),
    ('dstPort="i"', 'dstPort="o"', "port A.o is not an 'in' port"),
    ('<port name="o" type="out" rate="1"/>', '<port name="o" type="out" rate="0"/>',
     "channel c: production rate must be >= 1, got 0"),
    ('initialTokens="1"', 'initialTokens="-1"', "initial tokens must be >= 0"),
    ('time="3"', 'time="soon"', "execution time must be a number"),
])
def test_both_readers_give_the_same_errors(old, new, match):
    bad = GOOD.replace(old, new, 1)
    for text in (bad, bad.replace("<sdfProperties>", "<!-- tree --><sdfProperties>")):
        with pytest.raises(InvalidGraphError, match=match):
            read_sdf3(text)


def test_layout_reader_refuses_what_is_not_well_formed():
    from spikeforge.dataflow import sdf3

    for broken in (GOOD.replace("</actor>", "", 1), GOOD.replace("<actor ", "<actor x ", 1),
                   GOOD.replace("</sdf>", "</actor></sdf>"), GOOD + "<x/>"):
        assert sdf3._scan_layout(broken) is None
        with pytest.raises(InvalidGraphError, match="malformed XML"):
            read_sdf3(broken)
