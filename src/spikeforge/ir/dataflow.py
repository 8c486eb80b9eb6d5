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
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from types import MappingProxyType

import numpy as np

from spikeforge.errors import InvalidGraphError

__all__ = ["Actor", "Channel", "DataflowGraph", "GraphArrays"]


@dataclass(frozen=True)
class Actor:
    """A dataflow actor.

    Parameters
    ----------
    name : str
        Unique, non-empty name.
    execution_time : float or Fraction
        Worst-case duration of one firing, :math:`\\ge 0` and finite (ints are accepted).
    processor : str or None
        Processor (crossbar/core) the actor is bound to, if mapped.

    Raises
    ------
    InvalidGraphError
        Empty name, or a negative, NaN or infinite execution time.

    Examples
    --------
    >>> Actor("conv1.0", 4).execution_time
    4
    """

    name: str
    execution_time: float | Fraction
    processor: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidGraphError(f"actor name must be a non-empty string, got {self.name!r}")
        t = self.execution_time
        if isinstance(t, bool) or not isinstance(t, (int, float, Fraction)):
            raise InvalidGraphError(
                f"actor {self.name}: execution time must be a number, got {t!r}")
        if not math.isfinite(t) or t < 0:
            raise InvalidGraphError(
                f"actor {self.name}: execution time must be finite and >= 0, got {t}")


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
        Tokens produced per firing of ``src`` / consumed per firing of ``dst`` (:math:`\\ge 1`).
    initial_tokens : int
        Tokens present before the first firing (:math:`\\ge 0`).
    token_size : int
        Size of one token (e.g. bytes or spikes), :math:`\\ge 1`; used for buffer sizing.

    Raises
    ------
    InvalidGraphError
        Empty name, a rate or token size below 1, or negative initial tokens.

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
        if not isinstance(self.name, str) or not self.name:
            raise InvalidGraphError(f"channel name must be a non-empty string, got {self.name!r}")
        for what, value, low in (("production rate", self.production, 1),
                                 ("consumption rate", self.consumption, 1),
                                 ("initial tokens", self.initial_tokens, 0),
                                 ("token size", self.token_size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise InvalidGraphError(
                    f"channel {self.name}: {what} must be an integer, got {value!r}")
            if value < low:
                raise InvalidGraphError(f"channel {self.name}: {what} must be >= {low}, got {value}")


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
        Duplicate actor or channel names, a channel endpoint that is not an actor, or a static
        order that names an unknown actor, an actor bound to another processor, is empty, or
        omits an actor bound to its processor.

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
        object.__setattr__(self, "actors", tuple(self.actors))
        object.__setattr__(self, "channels", tuple(self.channels))
        orders = {str(p): tuple(order) for p, order in dict(self.static_orders).items()}
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
