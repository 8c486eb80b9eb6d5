"""What every command shares: the parser, argument types, the network loaders and the console.

Importing this module is cheap (argparse only): ``spikeforge --help`` and commands that never
touch a model must not pay for numpy, rich or torch before they need them. Everything heavier
is imported inside the function that uses it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from rich.console import Console

    from spikeforge.strategies import Registry

@dataclass(frozen=True)
class Command:
    """One sub-command: its name, its one-line help, and the function that adds its arguments
    (and ``set_defaults(run=...)``) to its parser when the command is actually used."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error, and sub-commands whose
    arguments are added only when that sub-command is parsed or asked for its help (building
    them imports the registries of strategies, which import numpy and scipy)."""

    def __init__(self, *args, configure: Callable[[Parser], None] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._configure = configure

    def _configured(self) -> None:
        if self._configure is not None:
            configure, self._configure = self._configure, None
            configure(self)

    def parse_known_args(self, args=None, namespace=None):
        self._configured()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._configured()
        return super().format_help()

    def format_usage(self) -> str:
        self._configured()
        return super().format_usage()

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def add_commands(sub: argparse._SubParsersAction, commands: Sequence[Command]) -> None:
    """Register ``commands`` on ``sub``; each one's arguments are added when it is used."""
    for command in commands:
        sub.add_parser(command.name, help=command.help, description=command.help,
                       configure=command.configure)


def count(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: an integer in ``[low, high]``, else a one-line usage error.

    >>> count()("3")
    3
    >>> count()("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer ≥ 1, got 0
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer ≥ {low}, got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"at most {high:,} is supported, got {value:,}")
        return value

    parse.__name__ = "count"
    return parse


def int_list(text: str) -> list[int]:
    """An argparse ``type``: ``'2,4,8'`` → ``[2, 4, 8]``; the values are checked by the command.

    >>> int_list("2, 4,8")
    [2, 4, 8]
    """
    try:
        return [int(p) for p in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, e.g. 2,4,8, got {text!r}") from None


def key_value(pair: str) -> tuple[str, object]:
    """An argparse ``type``: ``key=value``, the value read as JSON where it parses (numbers, lists,
    booleans), else kept as text.

    >>> key_value("width=4"), key_value("act=relu")
    (('width', 4), ('act', 'relu'))
    """
    if "=" not in pair:
        raise argparse.ArgumentTypeError(f"expected key=value, got {pair!r}")
    key, value = pair.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """``--arch`` and ``--option``: how a bare state dict is rebuilt."""
    p.add_argument("--arch", help="architecture of a bare state dict")
    p.add_argument("--option", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="architecture option")


def add_strategy_argument(p: argparse.ArgumentParser, flag: str, registry: Registry, default: str) -> None:
    """``--partitioner NAME`` and the like: choices and help from the strategy registry."""
    p.add_argument(flag, choices=registry.names(), default=default,
                   help=" ".join(registry.help()) + f" Default {default}.")


def console() -> Console:
    """The one console every command prints to."""
    from spikeforge.report.console import console

    return console
