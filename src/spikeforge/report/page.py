"""The report page: sections of facts, tables and figures, rendered as one self-contained HTML file.

A :class:`Page` is a frozen value; :func:`render_page` turns it into HTML text with the style
sheet, the script and every figure inline (figures are SVG; raster parts of a figure are ``data:``
URLs inside it), so the file opens offline and makes no network request. :func:`write_page` writes
it through :func:`spikeforge.outputs.atomic_file` (complete or not at all).

Every number shown carries its raw value in a ``data-value`` attribute and a stable ``data-key``
where it is a figure of the input (``guarantee.period_ns``), so a test (or a script) reads the
page's numbers back exactly.
"""

from __future__ import annotations

import html
import json
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template

from spikeforge.api import public

__all__ = ["Fact", "Figure", "Page", "Section", "Table", "render_page", "write_page"]


@dataclass(frozen=True)
class Fact:
    """One labelled figure: ``value`` is the raw number (or text), ``shown`` how the page prints it."""

    label: str
    shown: str
    value: float | int | str | None = None
    key: str = ""


@dataclass(frozen=True)
class Table:
    """A table; ``rows`` hold :class:`Fact` cells (their ``shown`` text, their ``value`` kept)."""

    id: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Fact, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class Figure:
    """An inline SVG figure with its caption."""

    id: str
    title: str
    svg: str
    caption: str = ""


Item = Fact | Table | Figure


@dataclass(frozen=True)
class Section:
    """A collapsible section: facts (a two-column list), then tables and figures in order.
    ``estimate`` marks a section whose figures are estimates; ``assumptions`` lists theirs."""

    id: str
    title: str
    items: tuple[Item, ...]
    notes: tuple[str, ...] = ()
    estimate: bool = False
    assumptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """The whole report: a title, what it was made from, and its sections."""

    title: str
    kind: str
    source: str
    sections: tuple[Section, ...]
    summary: tuple[Fact, ...] = ()
    meta: dict = field(default_factory=dict)


def _asset(name: str) -> str:
    return resources.files("spikeforge.report").joinpath("assets", name).read_text(encoding="utf-8")


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _value_attrs(f: Fact) -> str:
    attrs = f' data-key="{_esc(f.key)}"' if f.key else ""
    if isinstance(f.value, bool) or f.value is None:
        return attrs
    if isinstance(f.value, (int, float)):
        v = f.value if math.isfinite(f.value) else str(f.value)
        return attrs + f' data-value="{_esc(json.dumps(v))}"'
    return attrs + f' data-value="{_esc(f.value)}"'


def _facts(facts: list[Fact]) -> str:
    rows = "".join(f'<tr><th scope="row">{_esc(f.label)}</th><td{_value_attrs(f)}>{_esc(f.shown)}</td></tr>'
                   for f in facts)
    return f'<table class="facts">{rows}</table>'


def _table(t: Table) -> str:
    numeric = [bool(t.rows) and all(isinstance(row[i].value, (int, float)) or row[i].shown in ("", "–")
                                    for row in t.rows) for i in range(len(t.columns))]
    head = "".join(f'<th scope="col"{" class=num" if numeric[i] else ""}>{_esc(c)}</th>'
                   for i, c in enumerate(t.columns))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if numeric[i] else ""}{_value_attrs(c)}>{_esc(c.shown)}</td>'
                                     for i, c in enumerate(row)) + "</tr>" for row in t.rows)
    note = f'<p class="note">{_esc(t.note)}</p>' if t.note else ""
    return (f'<div class="table-wrap" id="{_esc(t.id)}"><table class="data sortable"><caption>{_esc(t.title)}'
            f'</caption><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}</div>')


def _figure(f: Figure) -> str:
    caption = f"<figcaption><b>{_esc(f.title)}.</b> {_esc(f.caption)}</figcaption>"
    return f'<figure class="chart" id="{_esc(f.id)}" data-figure="{_esc(f.id)}">{f.svg}{caption}</figure>'


def _section(s: Section) -> str:
    facts = [i for i in s.items if isinstance(i, Fact)]
    parts = [_facts(facts)] if facts else []
    parts += [_table(i) if isinstance(i, Table) else _figure(i) for i in s.items if not isinstance(i, Fact)]
    badge = ' <span class="badge">estimate</span>' if s.estimate else ""
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in s.notes)
    assumptions = ""
    if s.assumptions:
        items = "".join(f"<li>{_esc(a)}</li>" for a in s.assumptions)
        assumptions = f'<div class="assumptions"><b>Assumptions of the estimate</b><ul>{items}</ul></div>'
    return (f'<details open class="section" id="{_esc(s.id)}"><summary><h2>{_esc(s.title)}{badge}</h2></summary>'
            f'{notes}{"".join(parts)}{assumptions}</details>')


@public
def render_page(page: Page) -> str:
    """The page as one HTML document: style, script and figures inline, no external reference."""
    toc = "".join(f'<li><a href="#{_esc(s.id)}">{_esc(s.title)}</a></li>' for s in page.sections)
    summary = _facts(list(page.summary)) if page.summary else ""
    body = (f'<header><h1>{_esc(page.title)}</h1><p class="source">{_esc(page.kind)} report of '
            f'<code>{_esc(page.source)}</code></p>{summary}<nav><ol>{toc}</ol></nav></header>'
            f'<main>{"".join(_section(s) for s in page.sections)}</main>')
    return Template(_asset("page.html")).substitute(title=_esc(page.title), css=_asset("report.css"),
                                                    js=_asset("report.js"), body=body, kind=_esc(page.kind))


@public
def write_page(path: str | os.PathLike, page: Page, inputs: tuple[str | os.PathLike | None, ...] = ()) -> Path:
    """Render ``page`` and write it to ``path`` atomically (nothing partial on error); the path.

    Raises
    ------
    OutputPathError
        ``path`` is a folder, lies inside or is one of ``inputs``, or cannot be written.
    """
    from spikeforge.outputs import atomic_file

    # A path that is not UTF-8 (a surrogate escape in a setting or the source) is shown escaped, "\\udcff".
    text = render_page(page).encode("utf-8", "backslashreplace")
    return atomic_file(path, lambda f: f.write(text), inputs)
