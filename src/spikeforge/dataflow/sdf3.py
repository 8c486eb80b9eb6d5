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

The execution time is that of the default processor type (the first one if none is marked
default). Times are read as ``int`` (``"3"``), ``Fraction`` (``"7/2"``) or ``float``
(``"2.5"``), and written back the same way, so a graph round-trips unchanged. SDF3 has no
place for a processor *binding* or a static order in the application graph; they are kept
in a ``<spikeforgeMapping>`` element after ``applicationGraph``, which SDF3 ignores.

Documents with a DTD or entity declarations are refused (no entity expansion).

Limits (hostile or damaged files are refused with one line naming the element, never read
until memory runs out): a file must be a regular file of at most :data:`MAX_SDF3_BYTES`, and
parsing it must fit in memory (about :data:`PARSE_BYTES_PER_BYTE` bytes per byte of XML,
measured); rates and token sizes are integers up to
:data:`~spikeforge.ir.dataflow.MAX_RATE`, initial tokens up to
:data:`~spikeforge.ir.dataflow.MAX_TOKENS`; an execution time must be a finite number ≥ 0 that
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

import os
import re
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

from spikeforge.api import public
from spikeforge.errors import InputPathError, InvalidGraphError, ResourceError
from spikeforge.ir.dataflow import MAX_RATE, MAX_TOKENS, Actor, Channel, DataflowGraph
from spikeforge.outputs import atomic_file

__all__ = ["read_sdf3", "write_sdf3", "to_sdf3_string"]

_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

#: Largest SDF3 file read. The real limit is memory, checked before parsing; this one only
#: refuses sizes no graph has (a file of ~1 KB per actor: 16 M actors).
MAX_SDF3_BYTES = 16 << 30
#: Peak memory of reading an SDF3 file per byte of XML: 12.5 measured (the element tree and the
#: graph; a 100 MB graph of 10^5 actors and 3·10^5 channels peaked at 1.28 GB), with a margin.
PARSE_BYTES_PER_BYTE = 16


def _attr(element: ET.Element, name: str, where: str) -> str:
    value = element.get(name)
    if value is None:
        raise InvalidGraphError(f"{where}: <{element.tag}> lacks attribute {name!r}")
    return value


def _integer(text: str, what: str, where: str, high: int) -> int:
    """``text`` as an int of at most ``high`` (decimal digits only; lower bounds are the graph's)."""
    if not _INTEGER.fullmatch(text) or len(text) > 40:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidGraphError(f"{where}: {what} must be an integer, got {shown!r}")
    value = int(text)
    if value > high:
        raise InvalidGraphError(f"{where}: {what} {value} is larger than {high}, the largest supported")
    return value


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


@public
def read_sdf3(source: str | os.PathLike) -> DataflowGraph:
    """Read an SDF3 XML document.

    Parameters
    ----------
    source : str or path-like
        A path, or the XML text itself (a string starting with ``<`` after whitespace, or one
        that cannot be a path: holding a line break or longer than 4096 characters).

    Returns
    -------
    DataflowGraph

    Raises
    ------
    InvalidGraphError
        Unreadable file, not a regular file, a file too large to parse in the memory available
        (or above :data:`MAX_SDF3_BYTES`), malformed XML, a DTD or entity declaration, a rate,
        token count or execution time out of range, a missing element or
        attribute, an unknown actor or port, a port used by two channels, a port of the wrong
        direction, an actor without execution time, or an invalid graph; the message names the
        file and the element.

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
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise InvalidGraphError(f"{label}: malformed XML: {err}") from None
    try:
        return _parse(root, label)
    except InvalidGraphError as err:
        message = str(err)
        raise InvalidGraphError(message if message.startswith(label) else f"{label}: {message}") \
            from None


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


def _parse(root: ET.Element, label: str) -> DataflowGraph:
    if root.tag != "sdf3":
        raise InvalidGraphError(f"{label}: root element is <{root.tag}>, expected <sdf3>")
    app = root.find("applicationGraph")
    if app is None:
        raise InvalidGraphError(f"{label}: <sdf3> has no <applicationGraph> element")
    sdf = app.find("sdf")
    if sdf is None:
        raise InvalidGraphError(f"{label}: <applicationGraph> has no <sdf> element")
    ports: dict[str, dict[str, tuple[str, int]]] = {}
    for actor in sdf.findall("actor"):
        name = _attr(actor, "name", f"{label}: <actor>")
        where = f"{label}: actor {name}"
        if name in ports:
            raise InvalidGraphError(f"{where}: duplicate actor")
        ports[name] = {}
        for port in actor.findall("port"):
            pname = _attr(port, "name", where)
            kind = _attr(port, "type", f"{where}, port {pname}")
            if kind not in ("in", "out"):
                raise InvalidGraphError(f"{where}, port {pname}: type must be in or out, got {kind!r}")
            rate = _integer(_attr(port, "rate", f"{where}, port {pname}"), "rate",
                            f"{where}, port {pname}", MAX_RATE)
            ports[name][pname] = (kind, rate)
    times: dict[str, int | float | Fraction] = {}
    token_size: dict[str, int] = {}
    props = app.find("sdfProperties")
    for ap in props.findall("actorProperties") if props is not None else ():
        name = _attr(ap, "actor", f"{label}: <actorProperties>")
        where = f"{label}: actorProperties of {name}"
        if name not in ports:
            raise InvalidGraphError(f"{where}: unknown actor")
        procs = ap.findall("processor")
        if not procs:
            raise InvalidGraphError(f"{where}: no <processor> element")
        chosen = next((p for p in procs if p.get("default") == "true"), procs[0])
        et = chosen.find("executionTime")
        if et is None:
            raise InvalidGraphError(f"{where}: <processor> has no <executionTime>")
        times[name] = _number(_attr(et, "time", where), where)
    for cp in props.findall("channelProperties") if props is not None else ():
        name = _attr(cp, "channel", f"{label}: <channelProperties>")
        ts = cp.find("tokenSize")
        if ts is not None:
            token_size[name] = _integer(_attr(ts, "sz", f"{label}: channelProperties of {name}"),
                                        "token size", f"{label}: channelProperties of {name}",
                                        MAX_RATE)
    binding: dict[str, str] = {}
    orders: dict[str, tuple[str, ...]] = {}
    mapping = root.find("spikeforgeMapping")
    if mapping is not None:
        for b in mapping.findall("binding"):
            binding[_attr(b, "actor", f"{label}: <binding>")] = _attr(b, "processor",
                                                                       f"{label}: <binding>")
        for so in mapping.findall("staticOrder"):
            proc = _attr(so, "processor", f"{label}: <staticOrder>")
            orders[proc] = tuple(_attr(f, "actor", f"{label}: static order of {proc}")
                                 for f in so.findall("fire"))
    actors = []
    for name in ports:
        if name not in times:
            raise InvalidGraphError(f"{label}: actor {name} has no executionTime in <sdfProperties>")
        actors.append(Actor(name, times[name], binding.get(name)))
    used: dict[tuple[str, str], str] = {}
    channels = []
    for ch in sdf.findall("channel"):
        name = _attr(ch, "name", f"{label}: <channel>")
        where = f"{label}: channel {name}"
        rates = []
        for end, kind in (("src", "out"), ("dst", "in")):
            actor = _attr(ch, f"{end}Actor", where)
            port = _attr(ch, f"{end}Port", where)
            if actor not in ports:
                raise InvalidGraphError(f"{where}: unknown {end}Actor {actor!r}")
            if port not in ports[actor]:
                raise InvalidGraphError(f"{where}: actor {actor} has no port {port!r}")
            if ports[actor][port][0] != kind:
                raise InvalidGraphError(f"{where}: port {actor}.{port} is not an {kind!r} port")
            if (actor, port) in used:
                raise InvalidGraphError(
                    f"{where}: port {actor}.{port} is already used by channel {used[actor, port]}")
            used[actor, port] = name
            rates.append((actor, ports[actor][port][1]))
        tokens = _integer(ch.get("initialTokens", "0"), "initialTokens", where, MAX_TOKENS)
        channels.append(Channel(name, rates[0][0], rates[1][0], rates[0][1], rates[1][1], tokens,
                                token_size.get(name, 1)))
    return DataflowGraph(tuple(actors), tuple(channels), sdf.get("name", app.get("name", "")),
                         orders)


@public
def to_sdf3_string(graph: DataflowGraph) -> str:
    """The SDF3 XML text of ``graph`` (see the module docstring for the layout).

    Ports are named ``o<k>`` / ``i<k>`` after the channel index ``k``.

    Examples
    --------
    >>> from spikeforge.ir.dataflow import Actor, DataflowGraph
    >>> print(to_sdf3_string(DataflowGraph((Actor("A", 1),), ())).splitlines()[3])
        <sdf name="g" type="g">
    """
    root = ET.Element("sdf3", type="sdf", version="1.0")
    name = graph.name or "g"
    app = ET.SubElement(root, "applicationGraph", name=name)
    sdf = ET.SubElement(app, "sdf", name=name, type=name)
    elements = {a.name: ET.SubElement(sdf, "actor", name=a.name, type=a.name)
                for a in graph.actors}
    for k, c in enumerate(graph.channels):
        ET.SubElement(elements[c.src], "port", name=f"o{k}", type="out", rate=str(c.production))
        ET.SubElement(elements[c.dst], "port", name=f"i{k}", type="in", rate=str(c.consumption))
    for k, c in enumerate(graph.channels):
        ET.SubElement(sdf, "channel", name=c.name, srcActor=c.src, srcPort=f"o{k}",
                      dstActor=c.dst, dstPort=f"i{k}", initialTokens=str(c.initial_tokens))
    props = ET.SubElement(app, "sdfProperties")
    for a in graph.actors:
        ap = ET.SubElement(props, "actorProperties", actor=a.name)
        proc = ET.SubElement(ap, "processor", type="p", default="true")
        ET.SubElement(proc, "executionTime", time=_format_number(a.execution_time))
    for c in graph.channels:
        if c.token_size != 1:
            cp = ET.SubElement(props, "channelProperties", channel=c.name)
            ET.SubElement(cp, "tokenSize", sz=str(c.token_size))
    bound = [a for a in graph.actors if a.processor is not None]
    if bound or graph.static_orders:
        mapping = ET.SubElement(root, "spikeforgeMapping")
        for a in bound:
            ET.SubElement(mapping, "binding", actor=a.name, processor=a.processor)
        for proc, order in graph.static_orders.items():
            so = ET.SubElement(mapping, "staticOrder", processor=proc)
            for actor in order:
                ET.SubElement(so, "fire", actor=actor)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


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
