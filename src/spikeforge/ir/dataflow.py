"""Synchronous dataflow graphs (SDFG): the IR between placement and performance analysis.

A clustered, placed SNN becomes a synchronous dataflow graph (Lee and Messerschmitt 1987;
Song et al., LCTES 2020): each crossbar cluster is an *actor* that fires once per SNN
timestep slice, each spike route a *channel* carrying tokens.

Firing rule
    An actor ``a`` may start a firing when every input channel ``c`` holds at least
    ``c.consumption`` tokens; it removes them at the start, runs for ``a.execution_time``
    and appends ``c.production`` tokens to every output channel at the end.

Consistency
    A repetition vector :math:`q` solves the balance equations
    :math:`q_{src(c)}\\,p_c = q_{dst(c)}\\,c_c` for every channel; one *iteration* fires each
    actor :math:`q_a` times and returns every channel to its initial token count.

Static orders
    ``static_orders[p]`` is the cyclic firing order of the actors bound to processor ``p``
    (e.g. several clusters sharing one crossbar). The processor runs one firing at a time, in
    this order, repeating it. For analysis this is a cycle of edges
    :math:`a_1 \\to a_2 \\to \\dots \\to a_k \\to a_1` whose last edge carries one token: the token
    is the processor, and passing it along serialises the firings. An actor may occur several
    times in an order (multi-rate actors); one pass over the order must then fire every actor
    of the processor the same fraction of its repetition count. Processors without a static
    order impose no constraint: the binding is informative only.

Examples
--------
>>> g = DataflowGraph(
...     actors=(Actor("A", 2), Actor("B", 3)),
...     channels=(Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, initial_tokens=1)),
... )
>>> g.actor_index["B"], [c.name for c in g.predecessors("A")]
(1, ['ba'])
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from types import MappingProxyType

import numpy as np

from spikeforge.errors import InvalidGraphError

__all__ = ["MAX_RATE", "MAX_TOKENS", "Actor", "Channel", "DataflowGraph", "GraphArrays"]

#: Largest rate and token size of a channel: SDF3's 32-bit rates. Repetition counts built from
#: them are bounded separately (:data:`spikeforge.dataflow.consistency.MAX_REPETITION`).
MAX_RATE = 2**31 - 1
#: Largest number of initial tokens on a channel: exact in a float64.
MAX_TOKENS = 2**53


def _shown(value: int | float | Fraction) -> str:
    """``value`` for a message; an int or fraction of 40 digits or more by its order of magnitude
    (Python refuses to print an int of more than 4300 digits)."""
    if isinstance(value, float):
        return str(value)
    v = Fraction(value)
    if max(abs(v.numerator), v.denominator) < 10**40:
        return str(value)
    exponent = math.log10(abs(v.numerator)) - math.log10(v.denominator)
    return f"about {'-' if v < 0 else ''}10^{exponent:.0f}"


def _check_name(value, what: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidGraphError(f"{what} must be a non-empty string, got {value!r}")


def _check_actor(name, t, processor) -> None:
    """The rules of :class:`Actor` (shared with :meth:`DataflowGraph.from_arrays`)."""
    _check_name(name, "actor name")
    if isinstance(t, bool) or not isinstance(t, (int, float, Fraction)):
        raise InvalidGraphError(f"actor {name}: execution time must be a number, got {t!r}")
    try:
        ok = t >= 0 and math.isfinite(t)
    except OverflowError:  # an int or Fraction above a float's range
        raise InvalidGraphError(f"actor {name}: execution time {_shown(t)} is too large "
                                "(more than 1.8e308, the largest float)") from None
    if not ok:
        raise InvalidGraphError(f"actor {name}: execution time must be finite and >= 0, got {_shown(t)}")
    if processor is not None:
        _check_name(processor, f"actor {name}: processor")


#: The integer fields of :class:`Channel`: name in messages, lowest and highest value.
_CHANNEL_BOUNDS = (("production rate", 1, MAX_RATE), ("consumption rate", 1, MAX_RATE),
                   ("initial tokens", 0, MAX_TOKENS), ("token size", 1, MAX_RATE))


def _check_channel(name, src, dst, *counts) -> None:
    """The rules of :class:`Channel` (shared with :meth:`DataflowGraph.from_arrays`); ``counts``
    are production, consumption, initial tokens and token size."""
    _check_name(name, "channel name")
    _check_name(src, f"channel {name}: source actor")
    _check_name(dst, f"channel {name}: destination actor")
    for (what, low, high), value in zip(_CHANNEL_BOUNDS, counts):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise InvalidGraphError(f"channel {name}: {what} must be an integer, got {value!r}")
        if value < low:
            raise InvalidGraphError(f"channel {name}: {what} must be >= {low}, got {_shown(value)}")
        if value > high:
            raise InvalidGraphError(f"channel {name}: {what} {_shown(value)} is larger than "
                                    f"{high}, the largest supported")


def _check_graph_name(name) -> None:
    if not isinstance(name, str):
        raise InvalidGraphError(f"graph name must be a string, got {name!r}")


def _normalise_orders(static_orders, graph: str) -> dict[str, tuple]:
    """``static_orders`` as a dict of tuples, after checking its types."""
    if not isinstance(static_orders, Mapping):
        raise InvalidGraphError(f"graph {graph!r}: static_orders must be a mapping of processor "
                                f"names to actor names, got {type(static_orders).__name__}")
    orders = {}
    for proc, order in static_orders.items():
        _check_name(proc, f"graph {graph!r}: a processor of the static orders")
        if not isinstance(order, Iterable) or isinstance(order, (str, bytes, Mapping)):
            raise InvalidGraphError(f"static order of processor {proc}: must be a sequence of actor "
                                    f"names, got {type(order).__name__}")
        orders[proc] = tuple(order)
    return orders


def _unique_index(names: Sequence[str], kind: str) -> dict[str, int]:
    """Name -> position; a name used twice is refused, naming both positions."""
    index = dict(zip(names, range(len(names))))
    if len(index) < len(names):
        first: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in first:
                raise InvalidGraphError(f"{kind} {name}: duplicate name ({kind}s {first[name]} and {i})")
            first[name] = i
    return index


def _check_orders(orders: dict[str, tuple], index: Mapping[str, int],
                  processors: Sequence[str | None]) -> None:
    """Each static order names known actors bound to its processor, and all of them."""
    bound_to = Counter(processors)  # counted once: a scan of the actors per processor is quadratic
    for proc, order in orders.items():
        if not order:
            raise InvalidGraphError(f"static order of processor {proc}: empty")
        for name in order:
            if not isinstance(name, str):
                raise InvalidGraphError(f"static order of processor {proc}: actor names must be "
                                        f"strings, got {name!r}")
            if name not in index:
                raise InvalidGraphError(f"static order of processor {proc}: unknown actor {name!r}")
            bound = processors[index[name]]
            if bound != proc:
                raise InvalidGraphError(
                    f"static order of processor {proc}: actor {name} is bound to {bound!r}")
        listed = set(order)
        if bound_to[proc] > len(listed):  # every listed actor is bound to proc (checked above)
            missing = [a for a, i in index.items() if processors[i] == proc and a not in listed]
            raise InvalidGraphError(
                f"static order of processor {proc}: {len(missing)} bound actor(s) never fire: "
                f"{', '.join(missing[:5])}")


@dataclass(frozen=True)
class Actor:
    """A dataflow actor.

    Parameters
    ----------
    name : str
        Unique, non-empty name.
    execution_time : float or Fraction
        Worst-case duration of one firing, :math:`\\ge 0` and finite (ints are accepted), within
        a float's range.
    processor : str or None
        Processor (crossbar/core) the actor is bound to, if mapped.

    Raises
    ------
    InvalidGraphError
        A name or processor that is not a non-empty string, or an execution time that is not a
        number, is negative, NaN, infinite or beyond a float's range (1.8e308).

    Examples
    --------
    >>> Actor("conv1.0", 4).execution_time
    4
    """

    name: str
    execution_time: float | Fraction
    processor: str | None = None

    def __post_init__(self) -> None:
        _check_actor(self.name, self.execution_time, self.processor)


@dataclass(frozen=True)
class Channel:
    """A FIFO channel from actor ``src`` to actor ``dst``.

    Parameters
    ----------
    name : str
        Unique, non-empty name.
    src, dst : str
        Producing and consuming actor (equal for a self-loop).
    production, consumption : int
        Tokens produced per firing of ``src`` / consumed per firing of ``dst``
        (:math:`1 \\dots` :data:`MAX_RATE`).
    initial_tokens : int
        Tokens present before the first firing (:math:`0 \\dots` :data:`MAX_TOKENS`).
    token_size : int
        Size of one token (e.g. bytes or spikes), :math:`1 \\dots` :data:`MAX_RATE`; used for
        buffer sizing.

    Raises
    ------
    InvalidGraphError
        A name or endpoint that is not a non-empty string, a rate, token count or token size
        that is not an integer or out of its range.

    Examples
    --------
    >>> Channel("c", "A", "B", 2, 3, initial_tokens=1).consumption
    3
    """

    name: str
    src: str
    dst: str
    production: int
    consumption: int
    initial_tokens: int = 0
    token_size: int = 1

    def __post_init__(self) -> None:
        _check_channel(self.name, self.src, self.dst, self.production, self.consumption,
                       self.initial_tokens, self.token_size)


def _only(kind: type, values: Sequence) -> bool:
    """Whether every one of ``values`` is exactly of type ``kind`` (not a subclass, such as bool
    for int): one pass in C, where a loop asking each would be most of the time of a column."""
    return set(map(type, values)) <= {kind}


def _made_actor(name, execution_time, processor) -> Actor:
    """An :class:`Actor` of values already checked (its ``__post_init__`` not run again)."""
    actor = object.__new__(Actor)
    object.__setattr__(actor, "__dict__", {"name": name, "execution_time": execution_time,
                                           "processor": processor})
    return actor


def _made_channel(name, src, dst, production, consumption, initial_tokens, token_size) -> Channel:
    """A :class:`Channel` of values already checked (its ``__post_init__`` not run again)."""
    channel = object.__new__(Channel)
    object.__setattr__(channel, "__dict__", {
        "name": name, "src": src, "dst": dst, "production": production, "consumption": consumption,
        "initial_tokens": initial_tokens, "token_size": token_size})
    return channel


@dataclass(frozen=True)
class GraphArrays:
    """Index arrays of a graph (read-only), built once per graph for the analyses.

    ``src[k]``, ``dst[k]``, ``production[k]``, ``consumption[k]``, ``tokens[k]``,
    ``token_size[k]`` describe channel ``k``; ``execution_time[a]`` is a float array of actor
    ``a``'s time.
    """

    src: np.ndarray
    dst: np.ndarray
    production: np.ndarray
    consumption: np.ndarray
    tokens: np.ndarray
    execution_time: np.ndarray
    token_size: np.ndarray


@dataclass(frozen=True)
class DataflowGraph:
    """A synchronous dataflow graph, validated at construction.

    Parameters
    ----------
    actors : tuple of Actor
    channels : tuple of Channel
    name : str
    static_orders : Mapping[str, tuple[str, ...]]
        Processor name -> cyclic firing order of actors bound to it (see module docstring).

    Raises
    ------
    InvalidGraphError
        ``actors`` or ``channels`` not a sequence of :class:`Actor` or :class:`Channel`, a name
        that is not a string, ``static_orders`` not a mapping of processor names to sequences
        of actor names, duplicate actor or channel names, a channel endpoint that is not an
        actor, or a static order that names an unknown actor, an actor bound to another
        processor, is empty, or omits an actor bound to its processor.

    Examples
    --------
    >>> DataflowGraph((Actor("A", 1),), (Channel("c", "A", "X", 1, 1),))
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidGraphError: channel c: destination actor 'X' does not exist
    """

    actors: tuple[Actor, ...]
    channels: tuple[Channel, ...]
    name: str = ""
    static_orders: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_graph_name(self.name)
        for what, kind in (("actors", "Actor"), ("channels", "Channel")):
            items = getattr(self, what)
            if not isinstance(items, Iterable) or isinstance(items, (str, bytes, Mapping)):
                raise InvalidGraphError(f"graph {self.name!r}: {what} must be a sequence of {kind}, "
                                        f"got {type(items).__name__}")
            object.__setattr__(self, what, tuple(items))
        orders = _normalise_orders(self.static_orders, self.name)
        object.__setattr__(self, "static_orders", MappingProxyType(orders))
        for i, a in enumerate(self.actors):
            if not isinstance(a, Actor):
                raise InvalidGraphError(f"graph {self.name!r}: actor {i} is not an Actor: {a!r}")
        index = _unique_index([a.name for a in self.actors], "actor")
        seen: dict[str, int] = {}
        src, dst = [], []
        for k, c in enumerate(self.channels):
            if not isinstance(c, Channel):
                raise InvalidGraphError(f"graph {self.name!r}: channel {k} is not a Channel: {c!r}")
            if c.name in seen:
                raise InvalidGraphError(f"channel {c.name}: duplicate name (channels {seen[c.name]} and {k})")
            seen[c.name] = k
            s, d = index.get(c.src), index.get(c.dst)
            if s is None:
                raise InvalidGraphError(f"channel {c.name}: source actor {c.src!r} does not exist")
            if d is None:
                raise InvalidGraphError(f"channel {c.name}: destination actor {c.dst!r} does not exist")
            src.append(s)
            dst.append(d)
        _check_orders(orders, index, [a.processor for a in self.actors])
        chans = self.channels
        self._finish(index, seen, src, dst, [c.production for c in chans],
                     [c.consumption for c in chans], [c.initial_tokens for c in chans],
                     [c.token_size for c in chans], [a.execution_time for a in self.actors])

    def _finish(self, index, channel_index, *columns) -> None:
        """Store the name indices and the read-only :class:`GraphArrays` (``columns`` in the
        order of their fields, execution times last)."""
        def ro(values, dtype=np.int64):
            arr = np.array(values, dtype=dtype)
            arr.flags.writeable = False
            return arr

        *ints, times = columns
        src, dst, production, consumption, tokens, token_size = map(ro, ints)
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_channel_index", MappingProxyType(channel_index))
        object.__setattr__(self, "_arrays", GraphArrays(
            src=src, dst=dst, production=production, consumption=consumption, tokens=tokens,
            execution_time=ro(np.fromiter(map(float, times), float, len(times)), float),
            token_size=token_size))

    @classmethod
    def from_arrays(cls, actor_names: Sequence[str], execution_times: Sequence[float | Fraction],
                    channel_names: Sequence[str], src, dst, production, consumption,
                    initial_tokens, token_size, *, processors: Sequence[str | None] | None = None,
                    name: str = "", static_orders: Mapping[str, Sequence[str]] | None = None,
                    ) -> DataflowGraph:
        """The graph of these columns, checked vectorised (for large graphs read from files).

        Equal to ``DataflowGraph(actors, channels, name, static_orders)`` built from the same
        values, and refused with the same messages: the checks are those of :class:`Actor`,
        :class:`Channel` and the constructor, run on whole columns and repeated per element only
        to name the first bad one.

        Parameters
        ----------
        actor_names, execution_times : sequences, one entry per actor
        channel_names : sequence of str, one per channel
        src, dst : integer arrays
            Index (into the actors) of each channel's producer and consumer.
        production, consumption, initial_tokens, token_size : integer arrays, one per channel
        processors : sequence of str or None, optional
            Processor of each actor (default: none bound).
        name, static_orders
            As for the constructor.

        Raises
        ------
        InvalidGraphError
            Everything the constructor refuses; an endpoint index that is not an actor's.

        Examples
        --------
        >>> g = DataflowGraph.from_arrays(["A", "B"], [2, 3], ["ab", "ba"], [0, 1], [1, 0],
        ...                               [1, 1], [1, 1], [0, 1], [1, 1])
        >>> g == DataflowGraph((Actor("A", 2), Actor("B", 3)),
        ...                    (Channel("ab", "A", "B", 1, 1), Channel("ba", "B", "A", 1, 1, 1)))
        True
        >>> DataflowGraph.from_arrays(["A"], [1], ["c"], [0], [0], [0], [1], [0], [1])
        Traceback (most recent call last):
        ...
        spikeforge.errors.InvalidGraphError: channel c: production rate must be >= 1, got 0
        """
        n_actors, n_channels = len(actor_names), len(channel_names)
        procs = [None] * n_actors if processors is None else list(processors)
        times = list(execution_times)
        if not len(times) == len(procs) == n_actors:
            raise InvalidGraphError(f"graph {name!r}: {n_actors} actor names, {len(times)} execution "
                                    f"times and {len(procs)} processors")
        # Per-element checks only where the test of whole columns leaves a doubt (non-empty
        # names, int times >= 0, no processor).
        if not (_only(str, actor_names) and all(actor_names) and _only(int, times)
                and min(times, default=0) >= 0 and procs.count(None) == n_actors):
            for i in range(n_actors):
                t = times[i]
                if type(t) is not int or t < 0 or procs[i] is not None \
                        or type(actor_names[i]) is not str or not actor_names[i]:
                    _check_actor(actor_names[i], t, procs[i])
        columns = [np.asarray(c) for c in (src, dst, production, consumption, initial_tokens,
                                            token_size)]
        if any(len(c) != n_channels for c in columns):
            raise InvalidGraphError(f"graph {name!r}: {n_channels} channel names but channel columns "
                                    f"of lengths {[len(c) for c in columns]}")
        for end, column in (("source", columns[0]), ("destination", columns[1])):
            out = np.flatnonzero((column < 0) | (column >= n_actors)) if column.dtype.kind in "iu" \
                else np.arange(n_channels)
            if len(out):
                k = out[0]
                raise InvalidGraphError(f"channel {channel_names[k]}: {end} actor index {column[k]} "
                                        f"is not an actor's (the graph has {n_actors})")
        counts = columns[2:]
        bad = np.zeros(n_channels, bool)
        for column, (_, low, high) in zip(counts, _CHANNEL_BOUNDS):
            if column.dtype.kind not in "iu":
                bad[:] = True  # floats, bools or ints beyond int64: let the per-element check say
                break
            bad |= (column < low) | (column > high)
        if not (_only(str, channel_names) and all(channel_names)):
            bad |= np.fromiter((type(c) is not str or not c for c in channel_names), bool, n_channels)
        for k in np.flatnonzero(bad):
            _check_channel(channel_names[k], actor_names[src[k]], actor_names[dst[k]],
                           *(c[k].item() if isinstance(c[k], np.generic) else c[k] for c in counts))
        _check_graph_name(name)
        orders = _normalise_orders({} if static_orders is None else static_orders, name)
        index = _unique_index(actor_names, "actor")
        channel_index = _unique_index(channel_names, "channel")
        _check_orders(orders, index, procs)
        names = list(actor_names)
        src_list, dst_list, *counts_lists = (c.tolist() for c in columns)
        actors = tuple(map(_made_actor, names, times, procs))
        channels = tuple(map(_made_channel, channel_names, map(names.__getitem__, src_list),
                             map(names.__getitem__, dst_list), *counts_lists))
        graph = object.__new__(cls)
        object.__setattr__(graph, "__dict__", {"actors": actors, "channels": channels, "name": name,
                                               "static_orders": MappingProxyType(orders)})
        graph._finish(index, channel_index, *columns, times)
        return graph

    @property
    def actor_index(self) -> Mapping[str, int]:
        """Actor name -> position in :attr:`actors`."""
        return self._index  # type: ignore[attr-defined]

    @property
    def channel_index(self) -> Mapping[str, int]:
        """Channel name -> position in :attr:`channels`."""
        return self._channel_index  # type: ignore[attr-defined]

    def actor(self, name: str) -> Actor:
        """The actor called ``name``.

        Raises
        ------
        InvalidGraphError
            No actor has that name.
        """
        if name not in self.actor_index:
            raise InvalidGraphError(f"graph {self.name!r}: no actor named {name!r}")
        return self.actors[self.actor_index[name]]

    def predecessors(self, name: str) -> tuple[Channel, ...]:
        """Input channels of actor ``name`` (in graph order)."""
        return tuple(c for c in self.channels if c.dst == name)

    def successors(self, name: str) -> tuple[Channel, ...]:
        """Output channels of actor ``name`` (in graph order)."""
        return tuple(c for c in self.channels if c.src == name)

    @cached_property
    def is_homogeneous(self) -> bool:
        """True when every rate is 1 (an HSDF graph: the repetition vector is all ones)."""
        arr = self.arrays
        return bool(np.all(arr.production == 1) and np.all(arr.consumption == 1))

    @cached_property
    def exact_times(self) -> bool:
        """True when no execution time is a float (all are ints or Fractions)."""
        return not any(isinstance(a.execution_time, float) for a in self.actors)

    @property
    def arrays(self) -> GraphArrays:
        """Read-only numpy index arrays of the channels and actors."""
        return self._arrays  # type: ignore[attr-defined]
