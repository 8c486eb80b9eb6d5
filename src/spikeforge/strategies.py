"""Named strategies: one registry for the partitioners, placers and binders.

A strategy is a frozen dataclass that carries its options and names itself in the class
attribute ``name``; a :class:`Registry` maps those names to the classes (nengo-loihi's
allocator objects are the model). Stages accept a strategy by name (``"min-cut"``, the
options at their defaults) or as an object (``MinCutPlacer(max_restarts=4)``); both go through
:meth:`Registry.resolve`, so an unknown name raises the one
:class:`~spikeforge.errors.UnknownStrategyError` everywhere, listing the known names. The CLI
takes its choices from :meth:`Registry.names` and its help from :meth:`Registry.help`.

Kept free of numpy-heavy or torch imports: a base utility, cheap to import.

Examples
--------
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Halve:
...     '''Halves a number. More words.'''
...     name = "halve"  # a class attribute, no field
...     by: int = 2
>>> R = Registry("scaler", Halve, (Halve,))
>>> R.get("halve", by=4), R.names(), R.help()
(Halve(by=4), ('halve',), ['halve: halves a number.'])
>>> R.get("double")
Traceback (most recent call last):
...
spikeforge.errors.UnknownStrategyError: unknown scaler 'double'; known: halve
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from spikeforge.errors import InvalidDataError, UnknownStrategyError

__all__ = ["Registry"]

T = TypeVar("T")


def _first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring, on one line, lower-cased first letter.

    >>> _first_sentence('''Fills chips in order.
    ...     Then more.''')
    'fills chips in order.'
    """
    text = " ".join((doc or "").split())
    end = text.find(". ")
    text = text if end < 0 else text[:end + 1]
    return text[:1].lower() + text[1:]


class Registry(Generic[T]):
    """Strategy classes of one kind by name; iterating gives the names in registration order.

    Parameters
    ----------
    kind : str
        What a strategy of this registry is (``"placer"``), for messages.
    base : type
        The class every strategy of this kind derives from: objects of it pass
        :meth:`resolve` as they are.
    strategies : iterable of type
        Frozen dataclasses deriving from ``base``, each with a class attribute ``name``.
    """

    def __init__(self, kind: str, base: type[T], strategies: Iterable[type[T]]):
        self.kind, self.base = kind, base
        self._classes: dict[str, type[T]] = {}
        for cls in strategies:
            if cls.name in self._classes:  # type: ignore[attr-defined]
                raise ValueError(f"{kind} registry: name {cls.name!r} registered twice")  # type: ignore[attr-defined]
            self._classes[cls.name] = cls  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._classes)})"

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._classes)

    def strategy_class(self, name: str) -> type[T]:
        """The class registered as ``name``.

        Raises
        ------
        UnknownStrategyError
            ``name`` is not registered; the message lists the known names.
        """
        cls = self._classes.get(name) if isinstance(name, str) else None
        if cls is None:
            raise UnknownStrategyError(f"unknown {self.kind} {name!r}; known: {', '.join(self._classes)}")
        return cls

    def get(self, name: str, /, **options: Any) -> T:
        """The strategy ``name`` with ``options`` (the others at their defaults).

        Raises
        ------
        UnknownStrategyError
            ``name`` is not registered.
        InvalidDataError
            An option the strategy does not have, or a value it refuses.
        """
        cls = self.strategy_class(name)
        known = [f.name for f in dataclasses.fields(cls) if f.init]  # type: ignore[arg-type]
        unknown = sorted(set(options) - set(known))
        if unknown:
            has = f"options: {', '.join(known)}" if known else "it takes no options"
            raise InvalidDataError(f"{self.kind} {name!r}: unknown option(s) {', '.join(unknown)}; {has}")
        return cls(**options)

    def resolve(self, strategy: str | T) -> T:
        """A strategy object: ``strategy`` itself, or the one registered under that name with
        default options.

        Raises
        ------
        UnknownStrategyError
            An unregistered name, or an object that is no strategy of this kind.
        """
        if isinstance(strategy, self.base):
            return strategy
        if isinstance(strategy, str):
            return self.get(strategy)
        raise UnknownStrategyError(f"{type(strategy).__name__} is no {self.kind}; give one of "
                                   f"{', '.join(self._classes)} or a {self.base.__name__}")

    def help(self) -> list[str]:
        """One line per strategy, ``"name: first sentence of its docstring"``."""
        return [f"{name}: {_first_sentence(cls.__doc__)}" for name, cls in self._classes.items()]
