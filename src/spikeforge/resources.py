"""Resource checks made before work starts: memory for an allocation, and input files' kind and size.

A request that cannot fit (timesteps × neurons, chips × crossbars, a mesh, a declared array
shape) is refused with :class:`~spikeforge.errors.ResourceError` quoting what it needs against
what the machine has, before anything is allocated, instead of failing minutes later with a
``MemoryError`` or the kernel's out-of-memory killer. Input files are checked to be regular files
of a plausible size, so ``/dev/zero`` or a FIFO is refused instead of read until memory runs out.

Examples
--------
>>> check_memory(1024, "a small buffer")
>>> check_memory(1 << 60, "a huge buffer")
Traceback (most recent call last):
...
spikeforge.errors.ResourceError: a huge buffer: needs 1.0 EiB of memory, ... available
"""

from __future__ import annotations

import numbers
import os
import stat
from pathlib import Path

from spikeforge.api import public
from spikeforge.errors import (
    ArgumentError,
    InputPathError,
    ResourceError,
    SpikeforgeError,
)

__all__ = ["available_memory", "check_memory", "check_count", "check_input_file", "format_bytes"]


@public
def format_bytes(n: float) -> str:
    """``n`` bytes in binary units, e.g. ``format_bytes(3 << 30) == '3.0 GiB'``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} EiB"


@public
def available_memory() -> int:
    """Bytes of memory a new allocation can take: ``MemAvailable`` of ``/proc/meminfo`` (Linux),
    else the free physical pages, and no more than the process's address-space limit
    (``ulimit -v``) leaves beyond what it already maps."""
    return min(_system_available(), _address_space_left())


def _system_available() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(name) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            continue
    return 1 << 62  # no way to tell: refuse nothing


def _address_space_left() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return 1 << 62
    try:
        with open("/proc/self/status") as f:
            mapped = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    except (OSError, ValueError, StopIteration):
        mapped = 0
    return max(soft - mapped, 0)


@public
def check_memory(nbytes: float, what: str) -> None:
    """Refuse a request of ``nbytes`` bytes that does not fit in the available memory.

    Raises
    ------
    ResourceError
        ``nbytes`` exceeds :func:`available_memory`; the message quotes both.
    """
    available = available_memory()
    if nbytes > available:
        raise ResourceError(f"{what}: needs {format_bytes(nbytes)} of memory, "
                            f"{format_bytes(available)} available")


@public(own_checks="value")  # its own message names the flag
def check_count(value: int, name: str, *, low: int = 1, high: int | None = None,
                error: type[SpikeforgeError] = ArgumentError) -> int:
    """``value`` as an int if ``low <= value <= high``; the one range check of counts a user gives
    (timesteps, samples, chips, seeds, batch sizes, options of strategies).

    Raises
    ------
    ResourceError
        ``value`` is above ``high`` (a size that cannot be served).
    spikeforge.errors.ArgumentError
        ``value`` is not an integer or is below ``low`` (or ``error``, where a stage documents its own).

    Examples
    --------
    >>> check_count(8, "--timesteps")
    8
    >>> check_count(0, "--timesteps")
    Traceback (most recent call last):
    ...
    spikeforge.errors.ArgumentError: --timesteps 0: must be ≥ 1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise error(f"{name} {value!r}: must be an integer")
    value = int(value)
    if value < low:
        raise error(f"{name} {value}: must be ≥ {low}")
    if high is not None and value > high:
        raise ResourceError(f"{name} {value}: at most {high} is supported")
    return value


@public
def check_input_file(path: str | os.PathLike, max_bytes: int, what: str) -> Path:
    """``path`` as a Path if it is a readable regular file of at most ``max_bytes`` bytes.

    Raises
    ------
    InputPathError
        ``path`` is missing, a folder, a device, FIFO or socket, unreadable, or larger than
        ``max_bytes`` (the message quotes both sizes).
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputPathError(f"{what} {p}: no such file") from None
    except OSError as exc:
        raise InputPathError(f"{what} {p}: cannot read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputPathError(f"{what} {p}: is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputPathError(f"{what} {p}: not a regular file (a device, FIFO or socket)")
    if st.st_size > max_bytes:
        raise InputPathError(f"{what} {p}: {format_bytes(st.st_size)}, more than the "
                             f"{format_bytes(max_bytes)} such a file can be")
    if not os.access(p, os.R_OK):
        raise InputPathError(f"{what} {p}: cannot read (permission denied)")
    return p
