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
    (processors(proc("p", 3, "true")), {"processor": "z"}, ("actor A has no processor of type "
                                                           r"'z' \(it has p\)")),
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


# --------------------------------------------------------------------------------------------
# the layout reader (split at the quotes, a chunk at a time) against the tree parser

def read_both(text, chunk=None, **kw):
    """[outcome of the layout reader, outcome of the tree parser]: the graph and the warnings'
    messages, or the InvalidGraphError's message. ``chunk``: the layout reader's chunk length."""
    from spikeforge.dataflow import sdf3

    outcomes = []
    saved = sdf3._scan_layout, sdf3._CHUNK
    for scan in (sdf3._scan_layout, lambda _: None):
        sdf3._scan_layout, sdf3._CHUNK = scan, chunk or saved[1]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                outcomes.append((read_sdf3(text, **kw), [str(w.message) for w in caught]))
        except InvalidGraphError as err:
            outcomes.append(str(err))
        finally:
            sdf3._scan_layout, sdf3._CHUNK = saved
    return outcomes


@settings(max_examples=100, deadline=None)
@given(graphs(), st.sampled_from([1, 64, 1 << 18]))
def test_layout_reader_and_tree_parser_give_equal_graphs(g, chunk):
    from spikeforge.dataflow import sdf3

    text = to_sdf3_string(g)
    fast, tree = read_both(text, chunk)
    assert fast == tree and fast[0] == g
    assert (sdf3._scan_layout(text) is not None) == ("&" not in text)


LINES = to_sdf3_string(DataflowGraph(
    (Actor("A", 3, "x"), Actor("B", 2, "x"), Actor("C", 1)),
    (Channel("ab", "A", "B", 2, 1, 0, 4), Channel("ba", "B", "A", 1, 2, 3),
     Channel("cc", "C", "C", 1, 1, 1)),
    name="g", static_orders={"x": ("A", "B", "B")})).splitlines(keepends=True)


@st.composite
def mutated(draw):
    """The writer's document of a small graph with lines moved, dropped or doubled, a quote,
    markup or a value changed: in the layout or not, valid or not."""
    lines = list(LINES)
    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.integers(0, len(lines) - 1))
        kind = draw(st.sampled_from(["drop", "double", "move", "quote", "value", "insert"]))
        if kind == "drop":
            del lines[k]
        elif kind == "double":
            lines.insert(draw(st.integers(0, len(lines))), lines[k])
        elif kind == "move":
            lines.insert(draw(st.integers(0, len(lines) - 1)), lines.pop(k))
        elif kind == "quote" and '"' in lines[k]:
            at = draw(st.sampled_from([i for i, c in enumerate(lines[k]) if c == '"']))
            lines[k] = lines[k][:at] + lines[k][at + 1:]
        elif kind == "value" and '"' in lines[k]:
            pieces = lines[k].split('"')
            at = draw(st.sampled_from(range(1, len(pieces), 2)))
            pieces[at] = draw(st.sampled_from(["", "A", "B", "o0", "i1", "in", "out", "0", "7/2",
                                               "2.5", "x<y", "x>y", "a&amp;b", "a\nb", "a\tb", "é",
                                               "99999999999999999999", "-1", " 1 "]))
            lines[k] = '"'.join(pieces)
        else:
            lines.insert(k, draw(st.sampled_from(
                ["<!-- c -->", "<port name=\"z\" type=\"in\" rate=\"1\"/>", "</actor>",
                 "<actor name=\"Q\" type=\"Q\">", "<x/>", " ", '"', "<fire actor=\"A\"/>"])))
    return "".join(lines)


@settings(max_examples=300, deadline=None)
@given(mutated(), st.sampled_from([1, 1 << 18]))
def test_mutated_documents_are_read_alike_or_refused_alike(text, chunk):
    fast, tree = read_both(text, chunk)
    assert fast == tree


@pytest.mark.parametrize("old, new", [
    ('name="A" type="A"', 'name="A\nB" type="A"'),  # normalised to a space by the parser
    ('name="A" type="A"', 'name="A" type="A\tB"'),
    ('name="ab"', 'name="a>b"'),
    ('name="ab"', 'name="é"'),  # not ASCII: checked by the regular expression
    ('name="ab"', 'name=""'),
    ('time="3"', 'time=""'),
    ('initialTokens="0"', 'initialTokens=""'),
    ('default="true"', 'default=""'),
    ('name="ab"', 'name="a<b"'),
    ('name="ab"', 'name="a&#10;b"'),
])
def test_values_the_layout_reader_takes_or_leaves(old, new):
    text = "".join(LINES)
    assert old in text
    fast, tree = read_both(text.replace(old, new, 1))
    assert fast == tree


def test_ports_named_alike_in_several_actors_or_twice_in_one():
    # SDF3's files name ports per actor (p0, p1 in every actor): found by (actor, name)
    text = GOOD.replace('name="o"', 'name="p0"').replace('srcPort="o"', 'srcPort="p0"')
    text = text.replace("</actor>", '</actor><actor name="B" type="t"><port name="p0" type="in" '
                        'rate="1"/></actor>').replace(
        "</sdf>", '<channel name="d" srcActor="A" srcPort="p0" dstActor="B" dstPort="p0"/></sdf>'
    ).replace("</sdfProperties>", '<actorProperties actor="B"><processor type="p" default="true">'
              '<executionTime time="1"/></processor></actorProperties></sdfProperties>')
    fast, tree = read_both(text)
    assert isinstance(fast, str) and "port A.p0 is already used by channel c" in fast
    assert fast == tree
    fast, tree = read_both(text.replace('<port name="p0" type="out" rate="1"/>',
                                        '<port name="p0" type="out" rate="1"/><port name="q" '
                                        'type="out" rate="1"/>').replace(
        'srcActor="A" srcPort="p0" dstActor="B"', 'srcActor="A" srcPort="q" dstActor="B"'))
    assert fast == tree and [c.dst for c in fast[0].channels] == ["A", "B"]
    # one actor listing a port name twice: the last port of that name is the one found
    twice = GOOD.replace('<port name="i" type="in" rate="1"/>',
                         '<port name="i" type="in" rate="5"/><port name="i" type="in" rate="1"/>')
    fast, tree = read_both(twice)
    assert fast == tree and fast[0].channels[0].consumption == 1


def test_several_processors_per_actor_in_the_layout():
    from spikeforge.dataflow import sdf3

    text = processors(proc("p", 3, "true"), proc("q", 5, "false"), proc("r", 7))
    assert sdf3._scan_layout(text) is not None
    for kw in ({}, {"processor": "r"}, {"processor": "z"}):
        fast, tree = read_both(text, **kw)
        assert fast == tree
    assert read_both(text)[0][1]  # the warning about several defaults


def test_chunks_cut_only_before_elements_at_the_top():
    from spikeforge.dataflow import sdf3

    g = DataflowGraph(tuple(Actor(f"a{i}", i, "x") for i in range(40)),
                      tuple(Channel(f"c{i}", f"a{i}", f"a{(i + 1) % 40}", 1, 2, i % 3, 1 + i % 2)
                            for i in range(40)),
                      name="ring", static_orders={"x": tuple(f"a{i}" for i in range(40))})
    text = to_sdf3_string(g)
    for chunk in (1, 7, 100, 1 << 18):
        fast, tree = read_both(text, chunk)
        assert fast == tree and fast[0] == g
    assert sdf3._next_top(text, 0, len(text), ("<channel",)) == text.index("<channel")
    assert sdf3._next_top(text, 0, 10, ("<channel",)) == 10


def test_plain_integers():
    from spikeforge.dataflow.sdf3 import _plain_integers

    assert _plain_integers(["1", "007", "2147483647", "0"], 10, 2**31 - 1).tolist() == \
        [1, 7, 2147483647, 0]
    assert _plain_integers(["999999999999999999"], 18, 10**18).tolist() == [10**18 - 1]
    for bad in (["1", ""], ["1", None], ["+1"], [" 1"], ["1_0"], ["١"], ["2147483648"],
                ["12345678901"]):
        assert _plain_integers(bad, 10, 2**31 - 1) is None
    assert _plain_integers([], 10, 1).tolist() == []
