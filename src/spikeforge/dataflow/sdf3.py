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

Reading takes time linear in the file size (but for a sort of the port names' hashes). A
document in the layout that :func:`to_sdf3_string` (and SDF3) write -- attributes in that order,
double quotes, no comments or character references in the large sections -- is split at its
double quotes, a chunk of a section at a time: the odd pieces are the attribute values, and the
markup between them, a few distinct pieces repeated, is tokenised once per distinct piece and
checked against the layout's grammar as a string of one code per token; the values are then
taken by position, whole columns at a time. Splitting is the fastest way Python has to make
the strings, and the markup costs one dictionary lookup per piece. Any other document is parsed
by ``xml.etree``. Both give the same graph and the same errors (the columns are checked by one
builder, and a doubtful column is re-checked element by element to name the first bad one).

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
from itertools import chain, islice, repeat
from pathlib import Path

import numpy as np

from spikeforge.api import public
from spikeforge.errors import (
    InputPathError,
    InvalidGraphError,
    ResourceError,
    SDF3AmbiguityWarning,
)
from spikeforge.ir.dataflow import MAX_RATE, MAX_TOKENS, DataflowGraph
from spikeforge.outputs import atomic_file

__all__ = ["read_sdf3", "to_sdf3_string", "write_sdf3"]

_FORBIDDEN = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

#: Largest SDF3 file read. The real limit is memory, checked before parsing; this one only
#: refuses sizes no graph has (a file of ~1 KB per actor: 16 M actors).
MAX_SDF3_BYTES = 16 << 30
#: Peak memory of reading an SDF3 file per byte of XML: 12.5 measured for the tree parser (the
#: element tree and the graph; a 100 MB graph of 10^5 actors and 3·10^5 channels peaked at
#: 1.28 GB), with a margin. The layout reader needs less (about 7: the text, the attribute
#: values and the graph).
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
    """``texts`` as an int64 array when every one is 1 to ``digits`` (at most 18) ASCII digits of
    at most ``high``; None when any is not (then :func:`_integer`, element by element, says
    which). Parsed as one array of digits: int() per text is most of the time of a column."""
    if not texts:
        return np.zeros(0, dtype=np.int64)
    try:
        joined = "".join(texts)
    except TypeError:  # None: a missing attribute
        return None
    lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    if not (joined.isascii() and joined.isdigit()) or lengths.min() == 0 or lengths.max() > digits:
        return None
    ends = np.cumsum(lengths)
    places = np.repeat(ends, lengths) - np.arange(len(joined)) - 1  # of each digit in its text
    terms = (np.frombuffer(joined.encode("ascii"), np.uint8) - ord("0")) * 10 ** places
    values = np.add.reduceat(terms, ends - lengths)
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
    port_actor: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # position in actors
    port_name: list = field(default_factory=list)
    port_type: list = field(default_factory=list)
    port_rate: list = field(default_factory=list)
    # (srcActor, srcPort, dstActor, dstPort, initialTokens, name) columns of the channels
    channels: list = field(default_factory=lambda: [[] for _ in range(6)])
    property_actor: list = field(default_factory=list)  # per <actorProperties>
    # per <processor>: position of its <actorProperties> in property_actor, type, whether it
    # carries a default attribute, whether it has an <executionTime>, and its time
    processor_owner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    processor_type: list = field(default_factory=list)
    processor_default: list = field(default_factory=list)
    processor_timed: list = field(default_factory=list)
    processor_time: list = field(default_factory=list)
    # per <channelProperties>: channel, whether it has a <tokenSize>, and its size
    channel_property: list = field(default_factory=list)
    token_size_given: list = field(default_factory=list)
    token_size: list = field(default_factory=list)
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
    if "!" in text and _FORBIDDEN.search(text):  # a declaration starts <!; most files hold no !
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
# The layout of to_sdf3_string, split at the double quotes

_S = r"[ \t\r\n]"
#: Characters of a section read at a time (cut before an element at the top of the section):
#: its pieces are made, read and most of them freed while they are in the processor's cache.
#: Pieces of a whole section at once are gigabytes at 10^5 actors, each pass over them waiting
#: on memory: a chunk at a time takes half the time.
_CHUNK = 1 << 18
#: An attribute value of the layout: no reference, markup, control or non-character.
_ANY = r'"[^"<&\x00-\x1f\ud800-\udfff\ufffe\uffff]*"'
_BAD_VALUE = re.compile("[<&\x00-\x1f\ud800-\udfff\ufffe\uffff]")
_BAD_BYTES = bytes(range(32)) + b"<&"
_HEAD = re.compile(
    rf'\ufeff?(?:<\?xml{_S}+version="1\.0"(?:{_S}+encoding="[Uu][Tt][Ff]-8")?{_S}*\?>)?{_S}*'
    rf'<sdf3(?:{_S}+(?:type|version)={_ANY})*{_S}*>{_S}*'
    rf'<applicationGraph(?:{_S}+name=({_ANY}))?{_S}*>{_S}*<sdf{_S}+name=({_ANY}){_S}+type={_ANY}{_S}*>')
_PROPS_START = re.compile(rf'</sdf>{_S}*<sdfProperties{_S}*>')
_APP_END = re.compile(rf'</sdfProperties>{_S}*</applicationGraph>{_S}*')
_MAPPING_START = re.compile(rf'<spikeforgeMapping{_S}*>')
_MAPPING_END = re.compile(rf'</spikeforgeMapping>{_S}*')
_END = re.compile(rf'</sdf3>{_S}*')

#: The tokens of the markup between two attribute values: an attribute name and ``=`` (only at
#: the end, before the value's quote; after whitespace, which separates attributes), whitespace,
#: ``>`` or ``/>``, an end tag, the start of a start tag; the last group catches anything else.
_MARKUP = re.compile(rf'{_S}+([A-Za-z]+)=\Z|{_S}+|(/?>)|</([A-Za-z]+){_S}*>|<([A-Za-z]+)|(.)', re.DOTALL)
#: One character per token: a start tag's in capitals, its end tag's in lower case, an
#: attribute's a digit or sign (the value follows it), ``>`` and ``/`` (for ``/>``).
_OPEN = {"actor": "A", "port": "P", "channel": "C", "actorProperties": "R", "processor": "Q",
         "executionTime": "E", "channelProperties": "H", "tokenSize": "Z", "binding": "B",
         "staticOrder": "O", "fire": "F"}
_CLOSE = {tag: code.lower() for tag, code in _OPEN.items()}
_ATTRIBUTE = {"name": "1", "type": "2", "rate": "3", "srcActor": "4", "srcPort": "5",
              "dstActor": "6", "dstPort": "7", "initialTokens": "8", "actor": "9", "default": "!",
              "time": "#", "channel": "@", "sz": ":", "processor": ";"}
_ATTRIBUTE_CODES = frozenset(_ATTRIBUTE.values())
_IS_ATTRIBUTE = np.zeros(256, bool)
_IS_ATTRIBUTE[[ord(code) for code in _ATTRIBUTE_CODES]] = True
#: The sections in codes, each element in the order the writer gives its attributes.
_GRAPH = re.compile(r"(?:A12(?:/|>(?:P123/)*+a)|C14567(?:8)?/)*+")
_PROPERTIES = re.compile(r"(?:R9>(?:Q2!?>E#/q)++r|H@>Z:/h)*+")
_MAPPING = re.compile(r"(?:B9;/|O;>(?:F9/)*+o)*+")


def _markup_code(piece: str) -> str | None:
    """The codes of the tokens of ``piece`` (see :data:`_MARKUP`); None when it holds anything
    else, or a tag or attribute the layout does not have."""
    code = []
    for attribute, end, closed, opened, other in _MARKUP.findall(piece):
        if other:
            return None
        if attribute:
            char = _ATTRIBUTE.get(attribute)
        elif end:
            char = end[0]
        elif closed:
            char = _CLOSE.get(closed)
        elif opened:
            char = _OPEN.get(opened)
        else:  # whitespace
            continue
        if char is None:
            return None
        code.append(char)
    return "".join(code)


class _MarkupCodes(dict):
    """Markup piece -> its code (:func:`_markup_code`), found the first time a piece is asked
    for; ``?``, which no grammar has, for a piece that is not markup before a value."""

    def __missing__(self, piece: str) -> str:
        code = _markup_code(piece)
        self[piece] = code = code if code and code[-1] in _ATTRIBUTE_CODES else "?"
        return code


def _attribute_values(section: str, grammar: re.Pattern):
    """(values, attributes, opened) of a section in the layout: its attribute values in document
    order, the code of each value's attribute, and the code of the element each value's
    attribute opens (for an element's first attribute; another code for the others). None when
    the section is not in ``grammar``.

    Split at the double quotes, the odd pieces are the values and the even ones the markup
    between them. A file has few distinct markup pieces: each is tokenised once, and the codes
    of all of them, in order, are matched against ``grammar``. A value may hold no quote (by
    the split), no ``<``, ``&``, control or non-character; so every character is either
    whitespace or part of a token, and what is accepted is well-formed XML that ``xml.etree``
    reads the same."""
    pieces = section.split('"')
    if len(pieces) % 2 == 0:  # a quote left open
        return None
    # every piece but the last ends with an attribute name, whose value follows; the last not
    last_code = _markup_code(pieces[-1])
    if last_code is None or last_code[-1:] in _ATTRIBUTE_CODES:
        return None
    code = "".join(map(_MarkupCodes().__getitem__, islice(pieces, 0, len(pieces) - 1, 2))) + last_code
    values = pieces[1::2]
    if not grammar.fullmatch(code) or not _plain_values("".join(values)):
        return None
    chars = np.frombuffer(code.encode("ascii"), np.uint8)
    at = np.flatnonzero(_IS_ATTRIBUTE[chars])  # one per value; the grammar opens every element
    return values, chars[at], chars[at - 1]


def _plain_values(joined: str) -> bool:
    """Whether attribute values (``joined``) hold no ``<``, ``&``, control or non-character."""
    if joined.isascii():  # deleting the bad bytes is ten times faster than searching for them
        data = joined.encode("ascii")
        return len(data.translate(None, _BAD_BYTES)) == len(data)
    return _BAD_VALUE.search(joined) is None


def _columns(values: list, first: np.ndarray, width: int) -> list[list]:
    """The ``width`` columns of the elements whose values are ``values[first + k]``, k < width.
    Runs of adjacent elements are sliced out whole and the columns taken by stride: picking
    value by value takes several times as long."""
    if not len(first):
        return [[] for _ in range(width)]
    gaps = np.flatnonzero(np.diff(first) != width) + 1
    starts = first[np.concatenate(([0], gaps))].tolist()
    stops = (first[np.concatenate((gaps - 1, [len(first) - 1]))] + width).tolist()
    run = list(chain.from_iterable(map(values.__getitem__, map(slice, starts, stops))))
    return [run[k::width] for k in range(width)]


def _section(text: str, pos: int, start: re.Pattern, end: str, after: re.Pattern):
    """(start, end, position after) of the section opened by ``start`` at ``pos`` and closed by
    the first ``end`` matching ``after``; None when the text differs."""
    opened = start.match(text, pos)
    if opened is None:
        return None
    stop = text.find(end, opened.end())
    closed = after.match(text, stop) if stop >= 0 else None
    return None if closed is None else (opened.end(), stop, closed.end())


def _scan_layout(text: str) -> _Document | None:
    """The document's columns when ``text`` is in the layout of :func:`to_sdf3_string`; None
    otherwise (see :func:`_attribute_values`)."""
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
    port_actor, processor_owner = [doc.port_actor], [doc.processor_owner]
    sections = [(head.end(), body_end, _GRAPH, ("<actor", "<channel"), _graph_columns, port_actor),
                (props[0], props[1], _PROPERTIES, ("<actorProperties", "<channelProperties"),
                 _property_columns, processor_owner)]
    if mapping:
        sections.append((mapping[0], mapping[1], _MAPPING, ("<binding", "<staticOrder"),
                         _mapping_columns, []))
    for start, end, grammar, tops, columns, arrays in sections:
        while start < end:
            stop = _next_top(text, start + _CHUNK, end, tops)
            found = _attribute_values(text[start:stop], grammar)
            if found is None:
                return None
            arrays.append(columns(*found, doc))
            start = stop
    doc.port_actor = np.concatenate(port_actor)
    doc.processor_owner = np.concatenate(processor_owner)
    return doc


def _next_top(text: str, pos: int, end: int, tops: tuple) -> int:
    """Position of the first ``<`` from ``pos`` on that starts one of ``tops`` (an element at the
    top of a section), or ``end``."""
    while True:
        pos = text.find("<", pos, end)
        if pos < 0:
            return end
        if text.startswith(tops, pos):
            return pos
        pos += 1


def _starts(opened: np.ndarray, code: str) -> np.ndarray:
    """Positions of the values that are the first attribute of an element ``code``."""
    return np.flatnonzero(opened == ord(code))


def _graph_columns(values: list, attributes: np.ndarray, opened: np.ndarray,
                   doc: _Document) -> np.ndarray:
    """Add the columns of a chunk of ``<sdf>`` to ``doc`` (the grammar fixes which value
    follows which); return the position of each of its ports' actor."""
    actor, port, channel = _starts(opened, "A"), _starts(opened, "P"), _starts(opened, "C")
    before = len(doc.actors)  # a port is inside the last actor opened, maybe in a chunk before
    doc.actors += _columns(values, actor, 1)[0]
    for column, part in zip((doc.port_name, doc.port_type, doc.port_rate), _columns(values, port, 3)):
        column += part
    given = np.append(attributes, 0)[channel + 5] == ord(_ATTRIBUTE["initialTokens"])
    if given.all():  # the writer gives every channel its initialTokens
        name, *ends, tokens = _columns(values, channel, 6)
    else:
        name, *ends = _columns(values, channel, 5)
        tokens = np.full(len(channel), "0", dtype=object)
        tokens[given] = _columns(values, channel[given] + 5, 1)[0]
        tokens = tokens.tolist()
    for column, part in zip(doc.channels, (*ends, tokens, name)):
        column += part
    return before + np.searchsorted(actor, port) - 1


def _property_columns(values: list, attributes: np.ndarray, opened: np.ndarray,
                      doc: _Document) -> np.ndarray:
    """Add the columns of a chunk of ``<sdfProperties>`` to ``doc``; return the position of
    each of its processors' <actorProperties>."""
    owner, processor, channel = _starts(opened, "R"), _starts(opened, "Q"), _starts(opened, "H")
    before = len(doc.property_actor)
    doc.property_actor += _columns(values, owner, 1)[0]
    default = attributes[processor + 1] == ord(_ATTRIBUTE["default"])
    doc.processor_type += _columns(values, processor, 1)[0]
    doc.processor_default += default.tolist()
    doc.processor_timed += [True] * len(processor)
    doc.processor_time += _columns(values, processor + 1 + default, 1)[0]
    names, sizes = _columns(values, channel, 2)
    doc.channel_property += names
    doc.token_size += sizes
    doc.token_size_given += [True] * len(channel)
    return before + np.searchsorted(owner, processor) - 1


def _mapping_columns(values: list, attributes: np.ndarray, opened: np.ndarray,
                     doc: _Document) -> None:
    """Add the bindings and static orders of a chunk of ``<spikeforgeMapping>`` to ``doc``."""
    binding, order, fire = _starts(opened, "B"), _starts(opened, "O"), _starts(opened, "F")
    doc.bindings += zip(*_columns(values, binding, 2))
    fires = _columns(values, fire, 1)[0]
    bounds = np.searchsorted(fire, order).tolist() + [len(fires)]
    doc.orders += [(proc, fires[start:stop])
                   for proc, start, stop in zip(_columns(values, order, 1)[0], bounds, bounds[1:])]


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
    port_actor = []
    for i, actor in enumerate(sdf.findall("actor")):
        doc.actors.append(actor.get("name"))
        for port in actor.findall("port"):
            port_actor.append(i)
            doc.port_name.append(port.get("name"))
            doc.port_type.append(port.get("type"))
            doc.port_rate.append(port.get("rate"))
    doc.port_actor = np.array(port_actor, dtype=np.int64)
    for ch in sdf.findall("channel"):
        for column, key in zip(doc.channels, ("srcActor", "srcPort", "dstActor", "dstPort")):
            column.append(ch.get(key))
        doc.channels[4].append(ch.get("initialTokens", "0"))
        doc.channels[5].append(ch.get("name"))
    props = app.find("sdfProperties")
    owner = []
    for ap in props.findall("actorProperties") if props is not None else ():
        for p in ap.findall("processor"):
            et = p.find("executionTime")
            owner.append(len(doc.property_actor))
            doc.processor_type.append(p.get("type"))
            doc.processor_default.append("default" in p.attrib)
            doc.processor_timed.append(et is not None)
            doc.processor_time.append(None if et is None else et.get("time"))
        doc.property_actor.append(ap.get("actor"))
    doc.processor_owner = np.array(owner, dtype=np.int64)
    for cp in props.findall("channelProperties") if props is not None else ():
        ts = cp.find("tokenSize")
        doc.channel_property.append(cp.get("channel"))
        doc.token_size_given.append(ts is not None)
        doc.token_size.append(None if ts is None else ts.get("sz"))
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
    token_size = _token_sizes(doc, label)
    binding: dict[str, str] = {}
    for actor, proc in doc.bindings:
        binding[_need(actor, "binding", "actor", label)] = _need(proc, "binding", "processor", label)
    orders: dict[str, tuple[str, ...]] = {}
    for proc, fires in doc.orders:
        proc = _need(proc, "staticOrder", "processor", label)
        orders[proc] = tuple(_need(f, "fire", "actor", f"{label}: static order of {proc}")
                             for f in fires)
    if None in times:
        raise InvalidGraphError(f"{label}: actor {doc.actors[times.index(None)]} has no "
                                "executionTime in <sdfProperties>")
    src, dst, src_port, dst_port, tokens = _channels(doc, label, index)
    names = doc.channels[5]
    sizes = np.fromiter(map(token_size.get, names, repeat(1)), np.int64, len(names)) if token_size \
        else np.ones(len(names), dtype=np.int64)
    return DataflowGraph.from_arrays(
        doc.actors, times, names, src, dst, rates[src_port], rates[dst_port], tokens, sizes,
        processors=[binding.get(a) for a in doc.actors] if binding else None, name=doc.name,
        static_orders=orders)


def _actors_and_ports(doc: _Document, label: str) -> tuple[dict, np.ndarray]:
    """Actor name -> position, and the rate of every port; refuses a missing or duplicate name,
    a port type other than in/out, a rate that is not an integer up to MAX_RATE."""
    index = dict(zip(doc.actors, range(len(doc.actors))))
    rates = _plain_integers(doc.port_rate, 10, MAX_RATE)
    if rates is not None and None not in index and len(index) == len(doc.actors) \
            and None not in doc.port_name and set(doc.port_type) <= {"in", "out"}:
        return index, rates
    rates, k, seen = [], 0, set()  # element by element, to name the first bad one
    port_actor = doc.port_actor.tolist()
    for i, name in enumerate(doc.actors):
        name = _need(name, "actor", "name", f"{label}: <actor>")
        where = f"{label}: actor {name}"
        if name in seen:
            raise InvalidGraphError(f"{where}: duplicate actor")
        seen.add(name)
        while k < len(port_actor) and port_actor[k] == i:
            pname = _need(doc.port_name[k], "port", "name", where)
            kind = _need(doc.port_type[k], "port", "type", f"{where}, port {pname}")
            if kind not in ("in", "out"):
                raise InvalidGraphError(f"{where}, port {pname}: type must be in or out, got {kind!r}")
            rates.append(_integer(_need(doc.port_rate[k], "port", "rate", f"{where}, port {pname}"),
                                  "rate", f"{where}, port {pname}", MAX_RATE))
            k += 1
    return index, np.array(rates, dtype=np.int64)


def _execution_times(doc: _Document, label: str, index: dict, processor: str | None) -> list:
    """The execution time of each actor on SDF3's default processor (or on ``processor``); None
    for an actor without <actorProperties>."""
    n = len(doc.actors)
    if processor is None and doc.property_actor == doc.actors \
            and np.array_equal(doc.processor_owner, np.arange(n)) and all(doc.processor_default) \
            and all(doc.processor_timed) and None not in doc.processor_type:
        # one <actorProperties> per actor, in the actors' order, with one default processor: the
        # layout of the writer (and of SDF3), nothing to warn about; integer times parse at once
        plain = _plain_integers(doc.processor_time, 18, 10**18)
        if plain is not None:
            return plain.tolist()
    listed = [[] for _ in doc.property_actor]
    for owner, *proc in zip(doc.processor_owner.tolist(), doc.processor_type,
                            doc.processor_default, doc.processor_timed, doc.processor_time):
        listed[owner].append(proc)
    procs: dict[str, list] = {}
    for name, own in zip(doc.property_actor, listed):
        name = _need(name, "actorProperties", "actor", label)
        where = f"{label}: actorProperties of {name}"
        if name not in index:
            raise InvalidGraphError(f"{where}: unknown actor")
        if not own:
            raise InvalidGraphError(f"{where}: no <processor> element")
        known = procs.setdefault(name, [])
        for kind, *rest in own:
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
    for actors, what in ((several, ("several <processor> elements with a default attribute; SDF3 "
                                    "uses the last")),
                         (none, ("no <processor> with a default attribute; SDF3 gives them "
                                 "execution time 0"))):
        if actors:
            shown = ", ".join(actors[:5]) + (f" and {len(actors) - 5} more" if len(actors) > 5 else "")
            warnings.warn(f"{label}: {len(actors)} actor(s) have {what} (choose with "
                          f"--processor TYPE): {shown}", SDF3AmbiguityWarning, stacklevel=5)
    return [times.get(a) for a in doc.actors]


def _token_sizes(doc: _Document, label: str) -> dict:
    """Channel name -> token size, for the <channelProperties> with a <tokenSize>."""
    sizes = _plain_integers(doc.token_size, 10, MAX_RATE)
    if sizes is not None and None not in doc.channel_property:  # also: every one has a tokenSize
        return dict(zip(doc.channel_property, sizes.tolist()))
    token_size: dict[str, int] = {}
    for name, given, size in zip(doc.channel_property, doc.token_size_given, doc.token_size):
        name = _need(name, "channelProperties", "channel", label)
        if given:
            where = f"{label}: channelProperties of {name}"
            token_size[name] = _integer(_need(size, "tokenSize", "sz", where), "token size", where,
                                        MAX_RATE)
    return token_size


def _channels(doc: _Document, label: str, index: dict):
    """Index arrays (src actor, dst actor, src port, dst port) and initial tokens of the
    channels; refuses an unknown actor or port, a port of the wrong direction or used twice."""
    src_a, src_p, dst_a, dst_p, tokens, names = doc.channels
    counts = _plain_integers(tokens, 16, MAX_TOKENS)
    if counts is not None and None not in names:
        ends = _ends_by_port_name(doc, src_a, src_p, dst_a, dst_p)
        if ends is not None:
            return (*ends, counts)
    src = list(map(index.get, src_a))
    dst = list(map(index.get, dst_a))
    ports = dict(zip(zip(doc.port_actor.tolist(), doc.port_name), range(len(doc.port_name))))
    sp = list(map(ports.get, zip(src, src_p)))
    dp = list(map(ports.get, zip(dst, dst_p)))
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


def _ends_by_port_name(doc: _Document, src_a: list, src_p: list, dst_a: list, dst_p: list
                       ) -> tuple | None:
    """(src actor, dst actor, src port, dst port) index arrays when the port names are unique
    in the file (as the writer makes them) and every channel end names an actor and one of its
    ports by name, of the right direction, each port used once; None otherwise (then
    dictionaries of actors and of (actor, port name) find them, and name what is wrong). A
    port is found by its name alone, its actor compared with the channel's."""
    n = len(src_a)
    ports = _positions(doc.port_name, src_p + dst_p)
    if ports is None:
        return None
    src, dst = doc.port_actor[ports[:n]], doc.port_actor[ports[n:]]
    actors = np.array(doc.actors, dtype=object)
    # every type is in or out (_actors_and_ports checked): out is the one of three letters
    out = np.fromiter(map(len, doc.port_type), np.int64, len(doc.port_type)) == 3
    if np.all(actors[src] == np.array(src_a, dtype=object)) \
            and np.all(actors[dst] == np.array(dst_a, dtype=object)) \
            and out[ports[:n]].all() and not out[ports[n:]].any() \
            and np.bincount(ports, minlength=len(out)).max(initial=0) <= 1:
        return src, dst, ports[:n], ports[n:]
    return None


def _positions(names: list, keys: list) -> np.ndarray | None:
    """The position in ``names`` of each of ``keys``, when the names are unique and hold every
    key; None otherwise. Joined on the strings' hashes, sorted, and checked string by string: a
    dictionary lookup per key waits on memory three times (its table, its key, its value),
    most of the time of reading the channels."""
    if not names:
        return None if keys else np.zeros(0, dtype=np.int64)
    name_hash = np.fromiter(map(hash, names), np.int64, len(names))
    order = np.argsort(name_hash)
    ordered = name_hash[order]
    if np.any(ordered[1:] == ordered[:-1]):  # a name given twice (or two with one hash)
        return None
    key_hash = np.fromiter(map(hash, keys), np.int64, len(keys))
    by_hash = np.argsort(key_hash)  # searching sorted keys walks the names' hashes once
    found = np.empty(len(keys), dtype=np.int64)
    found[by_hash] = order[np.minimum(np.searchsorted(ordered, key_hash[by_hash]), len(names) - 1)]
    if not np.array_equal(name_hash[found], key_hash) \
            or list(map(names.__getitem__, found.tolist())) != keys:
        return None
    return found


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
