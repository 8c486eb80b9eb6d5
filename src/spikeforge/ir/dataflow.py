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
from collections.abc import Iterable, Mapping
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
        _check_name(self.name, "actor name")
        t = self.execution_time
        if isinstance(t, bool) or not isinstance(t, (int, float, Fraction)):
            raise InvalidGraphError(
                f"actor {self.name}: execution time must be a number, got {t!r}")
        try:
            ok = t >= 0 and math.isfinite(t)
        except OverflowError:  # an int or Fraction above a float's range
            raise InvalidGraphError(f"actor {self.name}: execution time {_shown(t)} is too large "
                                    "(more than 1.8e308, the largest float)") from None
        if not ok:
            raise InvalidGraphError(
                f"actor {self.name}: execution time must be finite and >= 0, got {_shown(t)}")
        if self.processor is not None:
            _check_name(self.processor, f"actor {self.name}: processor")


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
        _check_name(self.name, "channel name")
        _check_name(self.src, f"channel {self.name}: source actor")
        _check_name(self.dst, f"channel {self.name}: destination actor")
        for what, value, low, high in (("production rate", self.production, 1, MAX_RATE),
                                       ("consumption rate", self.consumption, 1, MAX_RATE),
                                       ("initial tokens", self.initial_tokens, 0, MAX_TOKENS),
                                       ("token size", self.token_size, 1, MAX_RATE)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InvalidGraphError(
                    f"channel {self.name}: {what} must be an integer, got {value!r}")
            if value < low:
                raise InvalidGraphError(f"channel {self.name}: {what} must be >= {low}, got {_shown(value)}")
            if value > high:
                raise InvalidGraphError(f"channel {self.name}: {what} {_shown(value)} is larger than "
                                        f"{high}, the largest supported")


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
        if not isinstance(self.name, str):
            raise InvalidGraphError(f"graph name must be a string, got {self.name!r}")
        for what, kind in (("actors", "Actor"), ("channels", "Channel")):
            items = getattr(self, what)
            if not isinstance(items, Iterable) or isinstance(items, (str, bytes, Mapping)):
                raise InvalidGraphError(f"graph {self.name!r}: {what} must be a sequence of {kind}, "
                                        f"got {type(items).__name__}")
            object.__setattr__(self, what, tuple(items))
        if not isinstance(self.static_orders, Mapping):
            raise InvalidGraphError(f"graph {self.name!r}: static_orders must be a mapping of processor "
                                    f"names to actor names, got {type(self.static_orders).__name__}")
        orders = {}
        for proc, order in self.static_orders.items():
            _check_name(proc, f"graph {self.name!r}: a processor of the static orders")
            if not isinstance(order, Iterable) or isinstance(order, (str, bytes, Mapping)):
                raise InvalidGraphError(f"static order of processor {proc}: must be a sequence of actor "
                                        f"names, got {type(order).__name__}")
            orders[proc] = tuple(order)
        object.__setattr__(self, "static_orders", MappingProxyType(orders))
        index: dict[str, int] = {}
        for i, a in enumerate(self.actors):
            if not isinstance(a, Actor):
                raise InvalidGraphError(f"graph {self.name!r}: actor {i} is not an Actor: {a!r}")
            if a.name in index:
                raise InvalidGraphError(f"actor {a.name}: duplicate name (actors {index[a.name]} and {i})")
            index[a.name] = i
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
        for proc, order in orders.items():
            if not order:
                raise InvalidGraphError(f"static order of processor {proc}: empty")
            for name in order:
                if not isinstance(name, str):
                    raise InvalidGraphError(f"static order of processor {proc}: actor names must be "
                                            f"strings, got {name!r}")
                if name not in index:
                    raise InvalidGraphError(f"static order of processor {proc}: unknown actor {name!r}")
                bound = self.actors[index[name]].processor
                if bound != proc:
                    raise InvalidGraphError(
                        f"static order of processor {proc}: actor {name} is bound to {bound!r}")
            missing = [a.name for a in self.actors if a.processor == proc and a.name not in order]
            if missing:
                raise InvalidGraphError(
                    f"static order of processor {proc}: {len(missing)} bound actor(s) never fire: "
                    f"{', '.join(missing[:5])}")
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_channel_index", MappingProxyType(seen))
        object.__setattr__(self, "_arrays", self._build_arrays(src, dst))

    def _build_arrays(self, src: list[int], dst: list[int]) -> GraphArrays:
        def ro(values, dtype=np.int64):
            arr = np.array(values, dtype=dtype)
            arr.flags.writeable = False
            return arr

        chans = self.channels
        return GraphArrays(
            src=ro(src), dst=ro(dst),
            production=ro([c.production for c in chans]),
            consumption=ro([c.consumption for c in chans]),
            tokens=ro([c.initial_tokens for c in chans]),
            execution_time=ro([float(a.execution_time) for a in self.actors], float),
            token_size=ro([c.token_size for c in chans]),
        )

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
