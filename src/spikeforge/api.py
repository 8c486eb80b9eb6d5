"""The boundary of the public API: one decorator that checks argument types.

Every public function of spikeforge is decorated with :func:`public`. At each call it checks
the arguments given against the function's annotations and turns a mismatch — ``None`` where a
value is required, a ``str`` where a network goes, a ``dict`` where an array goes — into an
:class:`~spikeforge.errors.ArgumentError` whose one-line message names the function, the
parameter, the type expected and the type given, instead of an ``AttributeError`` or
``TypeError`` from deep inside::

    convert(): parameter 'ann' must be Network, got NoneType

Each passed argument is checked on its own, so the message names the exact parameter. Classes,
unions, containers and literals (nearly every hint) are read directly, in about a microsecond;
any other hint by `beartype <https://beartype.readthedocs.io>`_'s ``is_bearable``, imported at
the first such check, so that importing spikeforge stays cheap.
Conventions:

* annotations are the contract: annotate what is truly accepted (:data:`ArrayLike` for array
  data, ``str | os.PathLike`` for paths, ``Sequence[int]``); an unannotated parameter
  (``self``) is not checked;
* a parameter whose type the function checks itself, raising a more specific documented
  :class:`~spikeforge.errors.SpikeforgeError` that names it, is listed in
  ``@public(own_checks="...")`` and left to the function;
* numbers follow the numeric tower, with numpy scalars: an ``int`` parameter accepts ``int`` and
  ``np.integer`` (``bool`` is an ``int``), a ``float`` parameter any real number (``int``,
  ``float``, ``np.integer``, ``np.floating``), a ``complex`` one any number;
* containers are checked the way beartype checks them: the container's type, and one element
  drawn at random (constant time);
* only arguments the caller passed are checked (defaults are the function's own business), and
  the return value is not checked;
* hints are resolved lazily, at the first call (modules use ``from __future__ import
  annotations``), and cached; the overhead is a few microseconds per call, so the decorator
  goes on entry points, never on functions called in inner loops.

Value checks (ranges, shapes, finiteness) stay in the functions and raise the subclass of
:class:`~spikeforge.errors.SpikeforgeError` that fits.

>>> @public
... def scale(x: float, *, times: int = 2) -> float:
...     return x * times
>>> scale(1.5)
3.0
>>> scale("1.5")
Traceback (most recent call last):
...
spikeforge.errors.ArgumentError: scale(): parameter 'x' must be float, got str
>>> scale(1.5, times=None)
Traceback (most recent call last):
...
spikeforge.errors.ArgumentError: scale(): parameter 'times' must be int, got NoneType
"""

from __future__ import annotations

import ast
import collections.abc
import functools
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from spikeforge.errors import ArgumentError

__all__ = ["ArgumentError", "ArrayLike", "PathLike", "accepts", "hints_of", "is_public", "public", "public_functions"]

F = TypeVar("F", bound=Callable[..., Any])

class _TensorType(type):
    def __instancecheck__(cls, obj: object) -> bool:
        # A tensor can only exist once torch is imported: no need to import it to check.
        torch = sys.modules.get("torch")
        return torch is not None and isinstance(obj, torch.Tensor)


class Tensor(metaclass=_TensorType):
    """``torch.Tensor`` in type hints, without importing torch (which takes seconds): commands
    that never touch a model, like ``spikeforge analyse``, start without it."""


Tensor.__module__ = "torch"  # named torch.Tensor in error messages

#: Array data as public functions take it: a numpy array, a torch tensor, or (nested) lists or
#: tuples of numbers — whatever ``np.asarray`` turns into the array the function needs.
ArrayLike = np.ndarray | Tensor | list | tuple
#: A file or folder path.
PathLike = str | os.PathLike


@functools.cache
def _beartype() -> types.SimpleNamespace:
    """beartype, imported at the first check that needs it rather than with every module (0.1–0.2 s)."""
    from beartype import BeartypeConf
    from beartype.door import is_bearable

    try:  # beartype >= 0.23 renamed the hint-override mapping
        from beartype import FrozenDict as overrides
    except ImportError:  # pragma: no cover - beartype 0.22
        from beartype import BeartypeHintOverrides as overrides
    # numpy scalars count as Python numbers
    conf = BeartypeConf(hint_overrides=overrides({
        int: int | np.integer,
        float: float | int | np.integer | np.floating,
        complex: complex | float | int | np.number,
    }))
    return types.SimpleNamespace(conf=conf, is_bearable=is_bearable)

_REGISTRY: dict[str, Callable[..., Any]] = {}


class _Check:
    """The checks of one function, built at its first call.

    ``checks`` holds a predicate per parameter (:func:`_checker`): classes, unions, containers and
    literals are read directly; beartype is imported only for the rarer hints it alone reads.
    """

    __slots__ = ("checks", "hints", "signature", "unresolved")

    def __init__(self, func: Callable[..., Any], own_checks: frozenset[str] = frozenset()) -> None:
        self.signature = inspect.signature(func)
        self.hints: dict[str, tuple[inspect._ParameterKind, Any]] = {}
        self.unresolved: dict[str, str] = {}
        resolved = _resolve(func, self.unresolved)
        for name, param in self.signature.parameters.items():
            if name in resolved and resolved[name] is not Any and name not in own_checks:
                self.hints[name] = (param.kind, resolved[name])
        self.checks = {name: _checker(hint) for name, (_, hint) in self.hints.items()}


#: How hints read numbers: numpy scalars count as Python numbers (the same as beartype's ``conf``).
_NUMBERS: dict[type, tuple[type, ...]] = {
    int: (int, np.integer),
    float: (float, int, np.integer, np.floating),
    complex: (complex, float, int, np.number),
}


_SIZED = (list, set, frozenset, collections.abc.Sequence, collections.abc.Collection,
          collections.abc.Set, collections.abc.MutableSequence)


def _checker(hint: Any) -> Callable[[Any], bool]:
    """A predicate for ``hint``, read the way beartype reads it: a class with ``isinstance``
    (numbers with :data:`_NUMBERS`), a union if any member fits, ``type[C]`` by subclass, a
    container by its type and one element (the first), a ``Literal`` by value; anything else by
    beartype's ``is_bearable``."""
    if hint is Any:
        return lambda v: True
    if hint is None or hint is type(None):
        return lambda v: v is None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [_checker(arg) for arg in args]
        return lambda v: any(part(v) for part in parts)
    if origin is typing.Literal:
        return lambda v: any(v == a and type(v) is type(a) for a in args)
    if isinstance(hint, type) and origin is None and not getattr(hint, "_is_protocol", False):
        classes = _NUMBERS.get(hint, (hint,))
        return lambda v: isinstance(v, classes)
    if origin is type and len(args) == 1 and isinstance(args[0], type):
        return lambda v: isinstance(v, type) and issubclass(v, args[0])
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [_checker(a) for a in args]
        return lambda v: isinstance(v, tuple) and len(v) == len(items) and all(c(x) for c, x in zip(items, v))
    if origin in (tuple, *_SIZED) and len(args) <= 1 + (origin is tuple):
        item = _checker(args[0]) if args else (lambda v: True)
        return lambda v: isinstance(v, origin) and (len(v) == 0 or item(next(iter(v))))
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping) and len(args) == 2:
        key, value = _checker(args[0]), _checker(args[1])
        return lambda v: isinstance(v, origin) and (len(v) == 0 or all(
            key(k) and value(x) for k, x in [next(iter(v.items()))]))
    return lambda v: accepts(v, hint)


def accepts(value: Any, hint: Any) -> bool:
    """Whether ``value`` satisfies ``hint`` as :func:`public` checks it (numpy scalars are numbers).

    >>> accepts(np.int64(3), int), accepts("3", int)
    (True, False)
    """
    bt = _beartype()
    return bool(bt.is_bearable(value, hint, conf=bt.conf))


def _resolve(func: Callable[..., Any], unresolved: dict[str, str]) -> dict[str, Any]:
    """The parameters' type hints; one that cannot be resolved is left out and noted.

    Names are looked up in the function's module, then in its ``if TYPE_CHECKING:`` imports
    (imported now, at the first call, when no import cycle can bite).
    """
    annotations = dict(getattr(func, "__annotations__", {}))
    annotations.pop("return", None)
    globalns = _globals(func)
    try:
        return typing.get_type_hints(_Annotated(annotations), globalns=globalns)
    except Exception:  # noqa: BLE001 - add the TYPE_CHECKING names, resolve one by one
        globalns = {**_type_checking_imports(func.__module__), **globalns}
    hints: dict[str, Any] = {}
    for name, ann in annotations.items():
        try:
            hints[name] = typing.get_type_hints(_Annotated({name: ann}), globalns=globalns)[name]
        except Exception as exc:  # noqa: BLE001
            unresolved[name] = f"{ann!r}: {exc}"
    return hints


@functools.cache
def _type_checking_imports(module_name: str) -> dict[str, Any]:
    """The names a module imports under ``if TYPE_CHECKING:``, imported."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    except (OSError, TypeError):
        return {}
    names: dict[str, Any] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            imports = [stmt for stmt in node.body if isinstance(stmt, (ast.Import, ast.ImportFrom))]
            code = compile(ast.Module(imports, type_ignores=[]), f"<TYPE_CHECKING of {module_name}>", "exec")
            exec(code, {"__name__": module_name, "__package__": module.__package__}, names)  # noqa: S102
    return names


class _Annotated:
    """A stand-in holding some of a function's annotations, for ``typing.get_type_hints``."""

    def __init__(self, annotations: dict[str, Any]) -> None:
        self.__annotations__ = annotations


def _globals(func: Callable[..., Any]) -> dict[str, Any]:
    return getattr(inspect.unwrap(func), "__globals__", {})


def describe(hint: Any) -> str:
    """A short, readable name of a type hint: ``Network``, ``np.ndarray | torch.Tensor``."""
    if hint is None or hint is type(None):
        return "None"
    if hint is Any:
        return "Any"
    if hint == npt.ArrayLike:
        return "array-like"
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        if origin is collections.abc.Callable:
            return "Callable"
        name = describe(origin)
        if not args:
            return name
        return f"{name}[{', '.join('...' if a is Ellipsis else describe(a) for a in args)}]"
    if isinstance(hint, type):
        return _type_name(hint)
    if isinstance(hint, TypeVar):
        return hint.__name__
    return str(hint).replace("typing.", "")


_BARE = ("builtins", "spikeforge", "collections", "typing", "pathlib", "fractions")


def _type_name(cls: type) -> str:
    """``Network``, ``Path``; others by the shortest module that exports them: ``np.ndarray``,
    ``torch.nn.Module``, ``os.PathLike``."""
    parts = cls.__module__.split(".")
    if parts[0] in _BARE:
        return cls.__qualname__
    for i in range(1, len(parts) + 1):
        if getattr(sys.modules.get(".".join(parts[:i])), cls.__name__, None) is cls:
            parts = parts[:i]
            break
    return ".".join(["np" if parts[0] == "numpy" else parts[0], *parts[1:], cls.__qualname__])


def _fail(func: Callable[..., Any], name: str, hint: Any, value: Any, what: str = "") -> ArgumentError:
    return ArgumentError(f"{func.__qualname__}(): parameter {name!r}{what} must be {describe(hint)}, "
                         f"got {type(value).__qualname__}")


def _check(func: Callable[..., Any], check: _Check, args: tuple, kwargs: dict) -> None:
    try:
        bound = check.signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise ArgumentError(f"{func.__qualname__}(): {exc}") from None
    arguments = bound.arguments
    for name, (kind, hint) in check.hints.items():
        if name not in arguments:
            continue
        value = arguments[name]
        ok = check.checks[name]

        if kind is inspect.Parameter.VAR_POSITIONAL:
            for i, item in enumerate(value):
                if not ok(item):
                    raise _fail(func, f"*{name}", hint, item, f" (item {i})")
        elif kind is inspect.Parameter.VAR_KEYWORD:
            for key, item in value.items():
                if not ok(item):
                    raise _fail(func, key, hint, item)
        elif not ok(value):
            raise _fail(func, name, hint, value)


@typing.overload
def public(func: F, /) -> F: ...
@typing.overload
def public(*, own_checks: str = "") -> Callable[[F], F]: ...


def public(func: F | None = None, /, *, own_checks: str = "") -> F | Callable[[F], F]:
    """Mark ``func`` as public API and check its arguments' types at each call.

    A wrong type or ``None`` where the annotation does not allow it raises
    :class:`~spikeforge.errors.ArgumentError` naming the function and the parameter; so does
    a call with missing or unexpected arguments. Works on functions, methods, classmethods
    (put ``@public`` below ``@classmethod``) and staticmethods.

    ``@public(own_checks="a b")`` leaves the parameters ``a`` and ``b`` to the function: it
    checks their types itself and raises a more specific, documented
    :class:`~spikeforge.errors.SpikeforgeError` naming them (kept where callers rely on it).
    """
    if func is None:
        return functools.partial(_decorate, own_checks=frozenset(own_checks.split()))
    return _decorate(func, frozenset())


def _decorate(func: F, own_checks: frozenset[str]) -> F:
    unknown = own_checks - set(inspect.signature(func).parameters)
    if unknown:
        raise ValueError(f"@public(own_checks=...) of {func.__qualname__}: no parameters {sorted(unknown)}")
    state: list[_Check] = []

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not state:
            state.append(_Check(func, own_checks))
        _check(func, state[0], args, kwargs)
        return func(*args, **kwargs)

    wrapper.__spikeforge_public__ = True  # type: ignore[attr-defined]
    wrapper.__spikeforge_own_checks__ = own_checks  # type: ignore[attr-defined]
    _REGISTRY[f"{func.__module__}.{func.__qualname__}"] = wrapper
    return typing.cast(F, wrapper)


def is_public(obj: Any) -> bool:
    """Whether ``obj`` (a function, method, classmethod or staticmethod) is decorated with
    :func:`public`."""
    if isinstance(obj, (classmethod, staticmethod)):
        obj = obj.__func__
    return bool(getattr(obj, "__spikeforge_public__", False))


def public_functions() -> dict[str, Callable[..., Any]]:
    """Every function decorated with :func:`public` so far, by ``module.qualname``."""
    return dict(_REGISTRY)


def hints_of(func: Callable[..., Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The resolved hints a public function checks, and those that could not be resolved
    (parameter -> why); for tests: every annotation of a public function must resolve."""
    check = _Check(inspect.unwrap(func), getattr(func, "__spikeforge_own_checks__", frozenset()))
    return {name: hint for name, (_, hint) in check.hints.items()}, check.unresolved
