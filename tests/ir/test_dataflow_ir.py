import re
from dataclasses import FrozenInstanceError, replace
from fractions import Fraction

import pytest

from spikeforge.errors import InvalidGraphError
from spikeforge.ir.dataflow import Actor, Channel, DataflowGraph


def two_actor_graph(**kw):
    return DataflowGraph((Actor("A", 2, "p0"), Actor("B", Fraction(3, 2), "p0")),
                         (Channel("ab", "A", "B", 2, 3), Channel("ba", "B", "A", 3, 2, 6)), **kw)


def test_helpers_and_arrays():
    g = two_actor_graph(name="g")
    assert g.actor_index == {"A": 0, "B": 1}
    assert g.channel_index["ba"] == 1
    assert [c.name for c in g.predecessors("A")] == ["ba"]
    assert [c.name for c in g.successors("A")] == ["ab"]
    assert g.actor("B").execution_time == Fraction(3, 2)
    assert not g.is_homogeneous and g.exact_times
    assert g.arrays.src.tolist() == [0, 1] and g.arrays.tokens.tolist() == [0, 6]
    with pytest.raises(ValueError, match="read-only"):
        g.arrays.src[0] = 1


def test_frozen_and_replace():
    g = two_actor_graph()
    with pytest.raises(FrozenInstanceError):
        g.name = "x"
    h = replace(g, name="h")
    assert h.name == "h" and h.channels == g.channels and h == replace(h)


@pytest.mark.parametrize("make, match", [
    (lambda: Actor("", 1), "non-empty"),
    (lambda: Actor("A", -1), "actor A: execution time must be finite and >= 0, got -1"),
    (lambda: Actor("A", float("nan")), "actor A: execution time"),
    (lambda: Actor("A", "3"), "actor A: execution time must be a number"),
    (lambda: Channel("c", "A", "B", 0, 1), "channel c: production rate must be >= 1, got 0"),
    (lambda: Channel("c", "A", "B", 1, -2), "channel c: consumption rate must be >= 1, got -2"),
    (lambda: Channel("c", "A", "B", 1, 1, -1), "channel c: initial tokens must be >= 0, got -1"),
    (lambda: Channel("c", "A", "B", 1, 1, 0, 0), "channel c: token size must be >= 1, got 0"),
    (lambda: Channel("c", "A", "B", 1.5, 1), "channel c: production rate must be an integer"),
])
def test_element_validation(make, match):
    with pytest.raises(InvalidGraphError, match=match):
        make()


@pytest.mark.parametrize("actors, channels, orders, match", [
    (("A", "A"), (), {}, "actor A: duplicate name"),
    (("A",), (("c", "A", "X"),), {}, "channel c: destination actor 'X' does not exist"),
    (("A",), (("c", "Y", "A"),), {}, "channel c: source actor 'Y' does not exist"),
    (("A",), (("c", "A", "A"), ("c", "A", "A")), {}, "channel c: duplicate name"),
    (("A",), (), {"p": ()}, "static order of processor p: empty"),
    (("A",), (), {"p": ("Z",)}, "static order of processor p: unknown actor 'Z'"),
    (("A",), (), {"q": ("A",)}, "actor A is bound to 'p'"),
    (("A", "B"), (), {"p": ("A",)}, "processor p: 1 bound actor"),
])
def test_graph_validation(actors, channels, orders, match):
    with pytest.raises(InvalidGraphError, match=match):
        DataflowGraph(tuple(Actor(a, 1, "p") for a in actors),
                      tuple(Channel(n, s, d, 1, 1) for n, s, d in channels), static_orders=orders)


def test_unknown_actor_lookup():
    with pytest.raises(InvalidGraphError, match="no actor named 'Z'"):
        two_actor_graph().actor("Z")


def columns(actors, channels):
    """from_arrays arguments of these actors and channels."""
    index = {a.name: i for i, a in enumerate(actors)}
    return ([a.name for a in actors], [a.execution_time for a in actors], [c.name for c in channels],
            [index.get(c.src, 99) for c in channels], [index.get(c.dst, 99) for c in channels],
            *([getattr(c, f) for c in channels]
              for f in ("production", "consumption", "initial_tokens", "token_size")))


def test_from_arrays_equals_the_constructor():
    g = two_actor_graph(name="g", static_orders={"p0": ("A", "B", "B")})
    h = DataflowGraph.from_arrays(*columns(g.actors, g.channels), name="g",
                                  processors=["p0", "p0"], static_orders={"p0": ("A", "B", "B")})
    assert h == g and h.actor_index == g.actor_index and h.channel_index == g.channel_index
    for field in ("src", "dst", "production", "consumption", "tokens", "execution_time", "token_size"):
        assert getattr(h.arrays, field).tolist() == getattr(g.arrays, field).tolist()
        assert not getattr(h.arrays, field).flags.writeable
    assert type(h.channels[0].production) is int and h.exact_times and not h.is_homogeneous


class Unchecked:
    """An Actor or Channel's fields, not checked (to hand bad values to from_arrays)."""

    def __init__(self, *values, fields):
        self.__dict__.update(zip(fields, values))


ACTOR = ("name", "execution_time")
CHANNEL = ("name", "src", "dst", "production", "consumption", "initial_tokens", "token_size")


@pytest.mark.parametrize("actors, channels, orders", [
    ((("A", -1),), (), {}),
    ((("A", "3"),), (), {}),
    ((("", 1),), (), {}),
    ((("A", 1), ("A", 2)), (), {}),
    ((("A", 1),), (("c", "A", "A", 0, 1, 0, 1),), {}),
    ((("A", 1),), (("c", "A", "A", 1, 1, -1, 1),), {}),
    ((("A", 1),), (("c", "A", "A", 1, 2**31, 0, 1),), {}),
    ((("A", 1),), (("c", "A", "A", 1, 1, 2**60, 1),), {}),
    ((("A", 1),), (("c", "A", "A", 1.5, 1, 0, 1),), {}),
    ((("A", 1),), (("c", "A", "A", 1, 1, 0, 1), ("c", "A", "A", 1, 1, 0, 1)), {}),
    ((("A", 1),), (), {"p": ("A",)}),
])
def test_from_arrays_refuses_what_the_constructor_refuses_in_its_words(actors, channels, orders):
    with pytest.raises(InvalidGraphError) as expected:
        DataflowGraph(tuple(Actor(*a) for a in actors), tuple(Channel(*c) for c in channels),
                      static_orders=orders)
    fake = ([Unchecked(*a, fields=ACTOR) for a in actors], [Unchecked(*c, fields=CHANNEL) for c in channels])
    with pytest.raises(InvalidGraphError, match=f"^{re.escape(str(expected.value))}$"):
        DataflowGraph.from_arrays(*columns(*fake), static_orders=orders)


def test_from_arrays_refuses_a_bad_endpoint_or_column_length():
    with pytest.raises(InvalidGraphError, match=r"channel c: destination actor index 3 is not an actor's"):
        DataflowGraph.from_arrays(["A"], [1], ["c"], [0], [3], [1], [1], [0], [1])
    with pytest.raises(InvalidGraphError, match="1 channel names but channel columns of lengths"):
        DataflowGraph.from_arrays(["A"], [1], ["c"], [0], [0, 0], [1], [1], [0], [1])
