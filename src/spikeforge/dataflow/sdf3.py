"""Read and write dataflow graphs in SDF3's XML format.

The subset handled is the application graph of SDF3 (Stuijk, Geilen, Basten, ACSD 2006)::

    <sdf3 type="sdf"><applicationGraph name="g">
      <sdf name="g" type="G">
        <actor name="A" type="t"><port name="o0" type="out" rate="2"/></actor> ...
        <channel name="c" srcActor="A" srcPort="o0" dstActor="B" dstPort="i0" initialTokens="1"/>
      </sdf>
      <sdfProperties>
        <actorProperties actor="A"><processor type="p" default="true">
          <executionTime time="3"/></processor></actorProperties>
        <channelProperties channel="c"><tokenSize sz="8"/></channelProperties>
      </sdfProperties>
    </applicationGraph></sdf3>

What SDF3 reads, and so what spikeforge reads (SDF3 sources: ``sdf/base/timed/graph.cc``,
``TimedSDFgraph::construct``; ``sdf/base/timed/actor.cc``, ``TimedSDFactor::setProperties`` and
``getExecutionTime``; ``sdf/analysis/throughput/selftimed_throughput.cc``):

Execution time
    The time of the actor's *default* processor: the **last** ``<processor>`` that carries a
    ``default`` attribute, whatever its value (``setProperties`` tests ``CHasAttribute``, and
    each hit overwrites the default). When several carry one, an
    :class:`~spikeforge.errors.SDF3AmbiguityWarning` names the actors; when none does, SDF3's
    ``getExecutionTime`` gives 0, and so does spikeforge, with a warning.
    ``read_sdf3(..., processor=TYPE)`` (``spikeforge analyse --processor TYPE``) takes that type's
    time instead. Processors of an actor accumulate over its ``<actorProperties>`` elements; a
    type listed twice is refused, as SDF3 refuses it.
Auto-concurrency
    SDF3's throughput analysis (the state-space exploration of ``selftimed_throughput.cc``)
    lets an actor fire concurrently with itself unless the graph gives it a self-edge; nothing in
    the file changes that. The reader adds no self-loop, and the analyses default to the same
    rule (``auto_concurrency=True``).
Read but not changing the throughput
    ``tokenSize`` (kept: buffer sizes in bytes). Ignored: ``bufferSize`` (SDF3's throughput
    analysis runs with unbounded channels; the buffer trade-off is computed, not read),
    ``memory``/``stateSize``, ``tokenType``, ``bandwidth`` and ``latency`` of channels (used by
    SDF3's mapping flow, not by its throughput analysis), and ``graphProperties`` (a throughput
    *constraint*, not an input to the analysis).

Times are read as ``int`` (``"3"``), ``Fraction`` (``"7/2"``) or ``float`` (``"2.5"``), and
written back the same way, so a graph round-trips unchanged (SDF3 itself reads integers only).
SDF3 has no place for a processor *binding* or a static order in the application graph; they
are kept in a ``<spikeforgeMapping>`` element after ``applicationGraph``, which SDF3 ignores.

Reading is linear in the file size. A document in the layout that :func:`to_sdf3_string` (and
SDF3) write -- attributes in that order, double quotes, no comments or character references in
the large sections -- is checked against that layout and tokenised by regular expressions,
whole columns at a time; any other document is parsed by ``xml.etree``. Both give the same graph
and the same errors (the columns are checked by one builder, and a doubtful column is re-checked
element by element to name the first bad one).

Documents with a DTD or entity declarations are refused (no entity expansion).

Limits (hostile or damaged files are refused with one line naming the element, never read
until memory runs out): a file must be a regular file of at most :data:`MAX_SDF3_BYTES`, and
parsing it must fit in memory (about :data:`PARSE_BYTES_PER_BYTE` bytes per byte of XML,
measured); rates and token sizes are integers up to
:data:`~spikeforge.ir.dataflow.MAX_RATE`, initial tokens up to
:data:`~spikeforge.ir.dataflow.MAX_TOKENS`; an execution time must be a finite number >= 0 that
a float can hold. These are the rules of :class:`~spikeforge.ir.dataflow.Channel` and
:class:`~spikeforge.ir.dataflow.Actor`; the reader applies the upper bounds as it parses, to
name the port or element.

Examples
--------
>>> text = '''<sdf3 type="sdf"><applicationGraph><sdf name="g" type="G">
... <actor name="A" type="t"><port name="p" type="out" rate="1"/>
... <port name="q" type="in" rate="1"/></actor>
... <channel name="c" srcActor="A" srcPort="p" dstActor="A" dstPort="q" initialTokens="1"/>
... </sdf><sdfProperties><actorProperties actor="A"><processor type="p" default="true">
... <executionTime time="3"/></processor></actorProperties></sdfProperties>
... </applicationGraph></sdf3>'''
>>> g = read_sdf3(text)
>>> g.actors[0], g.channels[0].initial_tokens
(Actor(name='A', execution_time=3, processor=None), 1)
"""

from __future__ import annotations

import gc
import os
import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import compress
from pathlib import Path

import numpy as np

from spikeforge.api import public
from spikeforge.errors import InputPathError, InvalidGraphError, ResourceError, SDF3AmbiguityWarning
from spikeforge.ir.dataflow import MAX_RATE, MAX_TOKENS, DataflowGraph
from spikeforge.outputs import atomic_file

__all__ = ["read_sdf3", "write_sdf3", "to_sdf3_string"]

_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

#: Largest SDF3 file read. The real limit is memory, checked before parsing; this one only
#: refuses sizes no graph has (a file of ~1 KB per actor: 16 M actors).
MAX_SDF3_BYTES = 16 << 30
#: Peak memory of reading an SDF3 file per byte of XML: 12.5 measured for the tree parser (the
#: element tree and the graph; a 100 MB graph of 10^5 actors and 3·10^5 channels peaked at
#: 1.28 GB), with a margin. The layout reader needs less (about 9: the text, its tokens and the
#: graph).
PARSE_BYTES_PER_BYTE = 16


def _integer(text: str, what: str, where: str, high: int) -> int:
    """``text`` as an int of at most ``high`` (decimal digits only; lower bounds are the graph's)."""
    if not _INTEGER.fullmatch(text) or len(text) > 40:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidGraphError(f"{where}: {what} must be an integer, got {shown!r}")
    value = int(text)
    if value > high:
        raise InvalidGraphError(f"{where}: {what} {value} is larger than {high}, the largest supported")
    return value


def _plain_integers(texts: list, digits: int, high: int) -> np.ndarray | None:
    """``texts`` as an int64 array when every one is 1 to ``digits`` ASCII digits of at most
    ``high``; None when any is not (then :func:`_integer`, element by element, says which)."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    if not all(texts):  # also None: a missing attribute
        return None
    joined = "".join(texts)
    if not (joined.isascii() and joined.isdigit()) or max(map(len, texts)) > digits:
        return None
    values = np.array(list(map(int, texts)), dtype=np.int64)
    return values if values.max() <= high else None


def _number(text: str, where: str) -> int | float | Fraction:
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        if _INTEGER.fullmatch(text):
            value = int(text)
        elif "/" in text:
            value = Fraction(text)
        else:
            value = float(text)
        float(value)  # a time a float cannot hold (an int or fraction above 1.8e308)
    except (ValueError, ZeroDivisionError):  # also more than 4300 digits
        raise InvalidGraphError(f"{where}: execution time must be a number, got {shown!r}") from None
    except OverflowError:
        raise InvalidGraphError(f"{where}: execution time {shown} is too large (more than "
                                "1.8e308, the largest float)") from None
    return value


def _format_number(value) -> str:
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Fraction) and value.denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    return str(int(value))


def _need(value: str | None, tag: str, name: str, where: str) -> str:
    """An attribute the element must have (None: it lacks it)."""
    if value is None:
        raise InvalidGraphError(f"{where}: <{tag}> lacks attribute {name!r}")
    return value


@dataclass
class _Document:
    """The attribute values of a document, as columns in document order (None: the attribute
    is missing). Filled by :func:`_scan_layout` or :func:`_scan_tree`; checked by :func:`_build`."""

    name: str = ""
    actors: list = field(default_factory=list)
    port_actor: list = field(default_factory=list)  # position of the port's actor in ``actors``
    port_name: list = field(default_factory=list)
    port_type: list = field(default_factory=list)
    port_rate: list = field(default_factory=list)
    # (srcActor, srcPort, dstActor, dstPort, initialTokens, name) columns of the channels
    channels: list = field(default_factory=lambda: [[] for _ in range(6)])
    #: (actor, [(type, has default, has executionTime, time)]) per <actorProperties>
    actor_properties: list = field(default_factory=list)
    #: (channel, has tokenSize, sz) per <channelProperties>
    channel_properties: list = field(default_factory=list)
    bindings: list = field(default_factory=list)  # (actor, processor)
    orders: list = field(default_factory=list)  # (processor, [actor, ...])


@public
def read_sdf3(source: str | os.PathLike, *, processor: str | None = None) -> DataflowGraph:
    """Read an SDF3 XML document.

    Parameters
    ----------
    source : str or path-like
        A path, or the XML text itself (a string starting with ``<`` after whitespace, or one
        that cannot be a path: holding a line break or longer than 4096 characters).
    processor : str, optional
        Take each actor's execution time on this processor type instead of SDF3's default
        processor (see the module docstring).

    Returns
    -------
    DataflowGraph

    Warns
    -----
    SDF3AmbiguityWarning
        Actors with several ``<processor>`` elements carrying a ``default`` attribute (the last
        is used) or with none (time 0); not when ``processor`` is given.

    Raises
    ------
    InvalidGraphError
        Unreadable file, not a regular file, a file too large to parse in the memory available
        (or above :data:`MAX_SDF3_BYTES`), malformed XML, a DTD or entity declaration, a rate,
        token count or execution time out of range, a missing element or
        attribute, an unknown actor or port, a port used by two channels, a port of the wrong
        direction, an actor without execution time, a processor type listed twice for an actor
        or (with ``processor``) missing, or an invalid graph; the message names the file and the
        element.

    Examples
    --------
    >>> read_sdf3("<sdf3><applicationGraph/></sdf3>")
    Traceback (most recent call last):
    ...
    spikeforge.errors.InvalidGraphError: <string>: <applicationGraph> has no <sdf> element
    """
    if isinstance(source, str) and (source.lstrip().startswith("<") or "\n" in source
                                    or len(source) > 4096):
        label, text = "<string>", source
        _check_parse_memory(len(text), label, "an SDF3 document")
    else:
        label = str(source)
        _check_file(Path(source), label)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as err:  # ValueError: a NUL in the path
            raise InvalidGraphError(f"{label}: cannot read SDF3 file: {err}") from None
    if _FORBIDDEN.search(text):
        raise InvalidGraphError(
            f"{label}: DTD or entity declarations (<!DOCTYPE, <!ENTITY) are not accepted")
    # Millions of acyclic strings and tuples: the cyclic collector would rescan them all, again
    # and again, as they are made (a third of the time at 10^5 actors), and can free none.
    collecting = gc.isenabled()
    gc.disable()
    try:
        doc = _scan_layout(text)
        return _build(doc if doc is not None else _scan_tree(text, label), label, processor)
    except InvalidGraphError as err:
        message = str(err)
        raise InvalidGraphError(message if message.startswith(label) else f"{label}: {message}") \
            from None
    finally:
        if collecting:
            gc.enable()


def _check_file(path: Path, label: str) -> None:
    """Refuse, before reading, a path that is not a readable regular file of at most
    :data:`MAX_SDF3_BYTES`, or whose parse would not fit in memory (``/dev/zero``, a FIFO, a
    multi-gigabyte file). A missing file is left to the read, which names it."""
    from spikeforge.resources import check_input_file

    if not path.exists():
        return
    try:
        size = check_input_file(path, MAX_SDF3_BYTES, "SDF3 file").stat().st_size
    except InputPathError as err:
        raise InvalidGraphError(str(err)) from None
    _check_parse_memory(size, label, "an SDF3 file")


def _check_parse_memory(size: int, label: str, what: str) -> None:
    from spikeforge.resources import check_memory, format_bytes

    try:
        check_memory(size * PARSE_BYTES_PER_BYTE, f"{label}: reading {what} of {format_bytes(size)}")
    except ResourceError as err:
        raise InvalidGraphError(str(err)) from None


# --------------------------------------------------------------------------------------------
# The layout of to_sdf3_string, tokenised whole sections at a time

_S = r"[ \t\r\n]"
#: An attribute value of the layout: no reference, markup, control or non-character, not empty.
_VAL = r'"([^"<&\x00-\x1f\ud800-\udfff\ufffe\uffff]+)"'
_ANY = r'"[^"<&\x00-\x1f\ud800-\udfff\ufffe\uffff]*"'
_HEAD = re.compile(
    rf'\ufeff?(?:<\?xml{_S}+version="1\.0"(?:{_S}+encoding="[Uu][Tt][Ff]-8")?{_S}*\?>)?{_S}*'
    rf'<sdf3(?:{_S}+(?:type|version)={_ANY})*{_S}*>{_S}*'
    rf'<applicationGraph(?:{_S}+name=({_ANY}))?{_S}*>{_S}*<sdf{_S}+name=({_ANY}){_S}+type={_ANY}{_S}*>')
_PROPS_START = re.compile(rf'</sdf>{_S}*<sdfProperties{_S}*>')
_APP_END = re.compile(rf'</sdfProperties>{_S}*</applicationGraph>{_S}*')
_MAPPING_START = re.compile(rf'<spikeforgeMapping{_S}*>')
_MAPPING_END = re.compile(rf'</spikeforgeMapping>{_S}*')
_END = re.compile(rf'</sdf3>{_S}*')
#: Tokens of ``<sdf>``; the last group catches anything else (then the tree parser reads it).
_GRAPH = re.compile(
    rf'<actor{_S}+name={_VAL}{_S}+type={_ANY}{_S}*(/?)>'
    rf'|<port{_S}+name={_VAL}{_S}+type="(in|out)"{_S}+rate="([0-9]{{1,10}})"{_S}*/>'
    rf'|(</)actor{_S}*>'
    rf'|<channel{_S}+name={_VAL}{_S}+srcActor={_VAL}{_S}+srcPort={_VAL}{_S}+dstActor={_VAL}'
    rf'{_S}+dstPort={_VAL}(?:{_S}+initialTokens="([0-9]{{1,16}})")?{_S}*/>'
    rf'|(\S)')
_PROPERTIES = re.compile(
    rf'<actorProperties{_S}+actor={_VAL}{_S}*>{_S}*<processor{_S}+type={_VAL}({_S}+default={_ANY})?'
    rf'{_S}*>{_S}*<executionTime{_S}+time={_VAL}{_S}*/>{_S}*</processor>{_S}*</actorProperties>'
    rf'|<channelProperties{_S}+channel={_VAL}{_S}*>{_S}*<tokenSize{_S}+sz={_VAL}{_S}*/>{_S}*'
    rf'</channelProperties>'
    rf'|(\S)')
_MAPPING = re.compile(
    rf'<binding{_S}+actor={_VAL}{_S}+processor={_VAL}{_S}*/>|<staticOrder{_S}+processor={_VAL}{_S}*>'
    rf'|<fire{_S}+actor={_VAL}{_S}*/>|(</)staticOrder>|(\S)')


def _section(text: str, pos: int, start: re.Pattern, end: str, after: re.Pattern):
    """(start, end, position after) of the section opened by ``start`` at ``pos`` and closed by
    the first ``end`` matching ``after``; None when the text differs."""
    opened = start.match(text, pos)
    if opened is None:
        return None
    stop = text.find(end, opened.end())
    closed = after.match(text, stop) if stop >= 0 else None
    return None if closed is None else (opened.end(), stop, closed.end())


def _flags(column) -> np.ndarray:
    return np.fromiter(map(bool, column), bool, len(column))


def _scan_layout(text: str) -> _Document | None:
    """The document's columns when ``text`` is in the layout of :func:`to_sdf3_string`; None
    otherwise. Every character is either whitespace or part of a token of the layout, and the
    actors nest as they must, so what is accepted is well-formed XML."""
    head = _HEAD.match(text)
    if head is None:
        return None
    body_end = text.find("</sdf>", head.end())
    props = _section(text, body_end, _PROPS_START, "</sdfProperties>", _APP_END) \
        if body_end >= 0 else None
    if props is None:
        return None
    mapping = _section(text, props[2], _MAPPING_START, "</spikeforgeMapping>", _MAPPING_END)
    if _END.fullmatch(text, mapping[2] if mapping else props[2]) is None:
        return None
    doc = _Document(name=(head.group(2) or head.group(1) or '""')[1:-1])
    if not _scan_graph(_GRAPH.findall(text, head.end(), body_end), doc):
        return None
    for actor, proc, default, time, channel, size, other in _PROPERTIES.findall(
            text, props[0], props[1]):
        if other:
            return None
        if actor:
            doc.actor_properties.append((actor, [(proc, bool(default), True, time)]))
        else:
            doc.channel_properties.append((channel, True, size))
    return doc if mapping is None or _scan_mapping(text, mapping, doc) else None


def _scan_graph(tokens: list[tuple], doc: _Document) -> bool:
    if not tokens:
        return True
    (actor, closed, port, kind, rate, end, name, src, src_port, dst, dst_port, tokens_,
     other) = map(list, zip(*tokens))
    if any(other):
        return False
    starts, ports, ends, channels = _flags(actor), _flags(port), _flags(end), _flags(name)
    step = (starts & ~_flags(closed)).astype(np.int8) - ends
    depth = np.cumsum(step, dtype=np.int64) - step  # before each token
    if depth[-1] + step[-1] != 0 or not np.array_equal(depth == 1, ports | ends) \
            or np.any(depth[starts | channels] != 0):
        return False
    doc.actors = list(compress(actor, starts))
    doc.port_actor = (np.cumsum(starts) - 1)[ports].tolist()
    doc.port_name, doc.port_type, doc.port_rate = (list(compress(c, ports)) for c in (port, kind, rate))
    doc.channels = [list(compress(c, channels)) for c in (src, src_port, dst, dst_port, tokens_, name)]
    doc.channels[4] = [t or "0" for t in doc.channels[4]]
    return True


def _scan_mapping(text: str, mapping: tuple, doc: _Document) -> bool:
    order = None
    for actor, proc, so_proc, fire, end, other in _MAPPING.findall(text, mapping[0], mapping[1]):
        if other or bool(fire or end) != (order is not None) or (so_proc and order is not None):
            return False
        if actor:
            doc.bindings.append((actor, proc))
        elif so_proc:
            order = (so_proc, [])
            doc.orders.append(order)
        elif fire:
            order[1].append(fire)
        else:
            order = None
    return order is None


# --------------------------------------------------------------------------------------------
# Any other document: the element tree


def _scan_tree(text: str, label: str) -> _Document:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise InvalidGraphError(f"{label}: malformed XML: {err}") from None
    if root.tag != "sdf3":
        raise InvalidGraphError(f"{label}: root element is <{root.tag}>, expected <sdf3>")
    app = root.find("applicationGraph")
    if app is None:
        raise InvalidGraphError(f"{label}: <sdf3> has no <applicationGraph> element")
    sdf = app.find("sdf")
    if sdf is None:
        raise InvalidGraphError(f"{label}: <applicationGraph> has no <sdf> element")
    doc = _Document(name=sdf.get("name", app.get("name", "")))
    for i, actor in enumerate(sdf.findall("actor")):
        doc.actors.append(actor.get("name"))
        for port in actor.findall("port"):
            doc.port_actor.append(i)
            doc.port_name.append(port.get("name"))
            doc.port_type.append(port.get("type"))
            doc.port_rate.append(port.get("rate"))
    for ch in sdf.findall("channel"):
        for column, key in zip(doc.channels, ("srcActor", "srcPort", "dstActor", "dstPort")):
            column.append(ch.get(key))
        doc.channels[4].append(ch.get("initialTokens", "0"))
        doc.channels[5].append(ch.get("name"))
    props = app.find("sdfProperties")
    for ap in props.findall("actorProperties") if props is not None else ():
        procs = []
        for p in ap.findall("processor"):
            et = p.find("executionTime")
            procs.append((p.get("type"), "default" in p.attrib, et is not None,
                          None if et is None else et.get("time")))
        doc.actor_properties.append((ap.get("actor"), procs))
    for cp in props.findall("channelProperties") if props is not None else ():
        ts = cp.find("tokenSize")
        doc.channel_properties.append((cp.get("channel"), ts is not None,
                                       None if ts is None else ts.get("sz")))
    mapping = root.find("spikeforgeMapping")
    if mapping is not None:
        doc.bindings = [(b.get("actor"), b.get("processor")) for b in mapping.findall("binding")]
        doc.orders = [(so.get("processor"), [f.get("actor") for f in so.findall("fire")])
                      for so in mapping.findall("staticOrder")]
    return doc


# --------------------------------------------------------------------------------------------
# The graph of the columns


def _build(doc: _Document, label: str, processor: str | None) -> DataflowGraph:
    index, rates = _actors_and_ports(doc, label)
    times = _execution_times(doc, label, index, processor)
    token_size: dict[str, int] = {}
    for name, has_size, size in doc.channel_properties:
        name = _need(name, "channelProperties", "channel", label)
        if has_size:
            where = f"{label}: channelProperties of {name}"
            token_size[name] = _integer(_need(size, "tokenSize", "sz", where), "token size", where,
                                        MAX_RATE)
    binding: dict[str, str] = {}
    for actor, proc in doc.bindings:
        binding[_need(actor, "binding", "actor", label)] = _need(proc, "binding", "processor", label)
    orders: dict[str, tuple[str, ...]] = {}
    for proc, fires in doc.orders:
        proc = _need(proc, "staticOrder", "processor", label)
        orders[proc] = tuple(_need(f, "fire", "actor", f"{label}: static order of {proc}")
                             for f in fires)
    for name in doc.actors:
        if name not in times:
            raise InvalidGraphError(f"{label}: actor {name} has no executionTime in <sdfProperties>")
    src, dst, src_port, dst_port, tokens = _channels(doc, label, index)
    names = doc.channels[5]
    sizes = np.array([token_size.get(c, 1) for c in names], dtype=np.int64) if token_size \
        else np.ones(len(names), dtype=np.int64)
    return DataflowGraph.from_arrays(
        doc.actors, [times[a] for a in doc.actors], names, src, dst, rates[src_port],
        rates[dst_port], tokens, sizes, processors=[binding.get(a) for a in doc.actors],
        name=doc.name, static_orders=orders)


def _actors_and_ports(doc: _Document, label: str) -> tuple[dict, np.ndarray]:
    """Actor name -> position, and the rate of every port; refuses a missing or duplicate name,
    a port type other than in/out, a rate that is not an integer up to MAX_RATE."""
    index = dict(zip(doc.actors, range(len(doc.actors))))
    rates = _plain_integers(doc.port_rate, 10, MAX_RATE)
    if rates is not None and None not in index and len(index) == len(doc.actors) \
            and None not in doc.port_name and set(doc.port_type) <= {"in", "out"}:
        return index, rates
    rates, k, seen = [], 0, set()  # element by element, to name the first bad one
    for i, name in enumerate(doc.actors):
        name = _need(name, "actor", "name", f"{label}: <actor>")
        where = f"{label}: actor {name}"
        if name in seen:
            raise InvalidGraphError(f"{where}: duplicate actor")
        seen.add(name)
        while k < len(doc.port_actor) and doc.port_actor[k] == i:
            pname = _need(doc.port_name[k], "port", "name", where)
            kind = _need(doc.port_type[k], "port", "type", f"{where}, port {pname}")
            if kind not in ("in", "out"):
                raise InvalidGraphError(f"{where}, port {pname}: type must be in or out, got {kind!r}")
            rates.append(_integer(_need(doc.port_rate[k], "port", "rate", f"{where}, port {pname}"),
                                  "rate", f"{where}, port {pname}", MAX_RATE))
            k += 1
    return index, np.array(rates, dtype=np.int64)


def _execution_times(doc: _Document, label: str, index: dict, processor: str | None) -> dict:
    """Actor name -> execution time of SDF3's default processor (or of ``processor``)."""
    procs: dict[str, list] = {}
    for name, listed in doc.actor_properties:
        name = _need(name, "actorProperties", "actor", label)
        where = f"{label}: actorProperties of {name}"
        if name not in index:
            raise InvalidGraphError(f"{where}: unknown actor")
        if not listed:
            raise InvalidGraphError(f"{where}: no <processor> element")
        known = procs.setdefault(name, [])
        for kind, *rest in listed:
            kind = _need(kind, "processor", "type", where)
            if any(kind == k for k, *_ in known):  # SDF3: "Processor already present on actor."
                raise InvalidGraphError(f"{where}: processor type {kind!r} is listed twice")
            known.append((kind, *rest))
    times: dict[str, int | float | Fraction] = {}
    several, none = [], []
    for name, known in procs.items():
        where = f"{label}: actorProperties of {name}"
        if processor is not None:
            chosen = next((p for p in known if p[0] == processor), None)
            if chosen is None:
                raise InvalidGraphError(f"{label}: actor {name} has no processor of type "
                                        f"{processor!r} (it has {', '.join(p[0] for p in known)})")
        else:
            # SDF3 (TimedSDFactor::setProperties) makes each processor carrying a `default`
            # attribute, whatever its value, the default in turn: the last one wins. Without
            # one, TimedSDFactor::getExecutionTime returns 0.
            defaults = [p for p in known if p[1]]
            if not defaults:
                none.append(f"{name} ({', '.join(p[0] for p in known)})")
                times[name] = 0
                continue
            if len(defaults) > 1:
                several.append(f"{name} ({', '.join(p[0] for p in defaults)} -> {defaults[-1][0]})")
            chosen = defaults[-1]
        _, _, has_time, time = chosen
        if not has_time:
            raise InvalidGraphError(f"{where}: <processor> has no <executionTime>")
        times[name] = _number(_need(time, "executionTime", "time", where), where)
    for actors, what in ((several, "several <processor> elements with a default attribute; SDF3 "
                                   "uses the last"),
                         (none, "no <processor> with a default attribute; SDF3 gives them "
                                "execution time 0")):
        if actors:
            shown = ", ".join(actors[:5]) + (f" and {len(actors) - 5} more" if len(actors) > 5 else "")
            warnings.warn(f"{label}: {len(actors)} actor(s) have {what} (choose with "
                          f"--processor TYPE): {shown}", SDF3AmbiguityWarning, stacklevel=5)
    return times


def _channels(doc: _Document, label: str, index: dict):
    """Index arrays (src actor, dst actor, src port, dst port) and initial tokens of the
    channels; refuses an unknown actor or port, a port of the wrong direction or used twice."""
    src_a, src_p, dst_a, dst_p, tokens, names = doc.channels
    ports = dict(zip(zip(doc.port_actor, doc.port_name), range(len(doc.port_name))))
    src = list(map(index.get, src_a))
    dst = list(map(index.get, dst_a))
    sp = list(map(ports.get, zip(src, src_p)))
    dp = list(map(ports.get, zip(dst, dst_p)))
    counts = _plain_integers(tokens, 16, MAX_TOKENS)
    kinds = np.array(doc.port_type, dtype=object)
    if counts is not None and None not in names and None not in sp and None not in dp \
            and np.all(kinds[sp] == "out") and np.all(kinds[dp] == "in") \
            and len(set(sp).union(dp)) == 2 * len(names):
        return src, dst, sp, dp, counts
    used: dict[int, str] = {}  # element by element, in document order, to name the first bad one
    counts = []
    for k, name in enumerate(names):
        name = _need(name, "channel", "name", f"{label}: <channel>")
        where = f"{label}: channel {name}"
        for actor, port, i, p, kind, end in ((src_a[k], src_p[k], src[k], sp[k], "out", "src"),
                                             (dst_a[k], dst_p[k], dst[k], dp[k], "in", "dst")):
            actor = _need(actor, "channel", f"{end}Actor", where)
            port = _need(port, "channel", f"{end}Port", where)
            if i is None:
                raise InvalidGraphError(f"{where}: unknown {end}Actor {actor!r}")
            if p is None:
                raise InvalidGraphError(f"{where}: actor {actor} has no port {port!r}")
            if kinds[p] != kind:
                raise InvalidGraphError(f"{where}: port {actor}.{port} is not an {kind!r} port")
            if p in used:
                raise InvalidGraphError(f"{where}: port {actor}.{port} is already used by channel {used[p]}")
            used[p] = name
        counts.append(_integer(tokens[k], "initialTokens", where, MAX_TOKENS))
    return src, dst, sp, dp, counts


# --------------------------------------------------------------------------------------------
# Writing

_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;",
                          "\r": "&#13;", "\t": "&#9;"})


def _q(value: str) -> str:
    """``value`` as a quoted attribute value."""
    return '"' + value.translate(_ESCAPES) + '"'


@public
def to_sdf3_string(graph: DataflowGraph) -> str:
    """The SDF3 XML text of ``graph`` (see the module docstring for the layout).

    Ports are named ``o<k>`` / ``i<k>`` after the channel index ``k``. Linear in the size of the
    graph.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, DataflowGraph
    >>> print(to_sdf3_string(DataflowGraph((Actor("A", 1),), ())).splitlines()[3])
        <sdf name="g" type="g">
    """
    name = _q(graph.name or "g")
    ports: list[list[str]] = [[] for _ in graph.actors]
    arrays = graph.arrays
    for k, (c, s, d) in enumerate(zip(graph.channels, arrays.src.tolist(), arrays.dst.tolist())):
        ports[s].append(f'        <port name="o{k}" type="out" rate="{c.production}"/>\n')
        ports[d].append(f'        <port name="i{k}" type="in" rate="{c.consumption}"/>\n')
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<sdf3 type="sdf" version="1.0">\n',
           f'  <applicationGraph name={name}>\n    <sdf name={name} type={name}>\n']
    for a, own in zip(graph.actors, ports):
        q = _q(a.name)
        out.append(f'      <actor name={q} type={q}>\n')
        out.extend(own)
        out.append('      </actor>\n')
    for k, c in enumerate(graph.channels):
        out.append(f'      <channel name={_q(c.name)} srcActor={_q(c.src)} srcPort="o{k}" '
                   f'dstActor={_q(c.dst)} dstPort="i{k}" initialTokens="{c.initial_tokens}"/>\n')
    out.append('    </sdf>\n    <sdfProperties>\n')
    for a in graph.actors:
        out.append(f'      <actorProperties actor={_q(a.name)}>\n        <processor type="p" '
                   f'default="true">\n          <executionTime time="{_format_number(a.execution_time)}"/>'
                   '\n        </processor>\n      </actorProperties>\n')
    for c in graph.channels:
        if c.token_size != 1:
            out.append(f'      <channelProperties channel={_q(c.name)}>\n        <tokenSize '
                       f'sz="{c.token_size}"/>\n      </channelProperties>\n')
    out.append('    </sdfProperties>\n  </applicationGraph>\n')
    bound = [a for a in graph.actors if a.processor is not None]
    if bound or graph.static_orders:
        out.append('  <spikeforgeMapping>\n')
        out.extend(f'    <binding actor={_q(a.name)} processor={_q(a.processor)}/>\n' for a in bound)
        for proc, order in graph.static_orders.items():
            out.append(f'    <staticOrder processor={_q(proc)}>\n')
            out.extend(f'      <fire actor={_q(actor)}/>\n' for actor in order)
            out.append('    </staticOrder>\n')
        out.append('  </spikeforgeMapping>\n')
    out.append('</sdf3>\n')
    return "".join(out)


@public
def write_sdf3(graph: DataflowGraph, path: str | os.PathLike) -> None:
    """Write ``graph`` as SDF3 XML to ``path`` atomically (:func:`spikeforge.outputs.atomic_file`).

    Raises
    ------
    OutputPathError
        The file cannot be written (the message names the path and the reason).
    """
    text = to_sdf3_string(graph).encode("utf-8")
    atomic_file(path, lambda f: f.write(text))
