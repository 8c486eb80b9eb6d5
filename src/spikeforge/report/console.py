"""The one terminal console of the command line.

Emoji codes are off, so a user's name such as ``:x:`` prints as given; markup in names is escaped
where they are printed (:func:`rich.markup.escape`, and in :mod:`spikeforge.report.tables`).
"""

from __future__ import annotations

from rich.console import Console

console = Console(emoji=False)
