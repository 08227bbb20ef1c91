"""How Keras reports training progress: a redrawn bar on a terminal, one line per epoch elsewhere.

Keras' ``verbose=1`` progress bar is redrawn after every batch; written to a
log file or a pipe that is thousands of partial lines. When stdout is not a
terminal a requested bar becomes Keras' ``verbose=2`` (one line per epoch);
0 and 2 are kept as asked.
"""

from __future__ import annotations

import sys

SILENT, BAR, PER_EPOCH = 0, 1, 2


def keras_verbose(requested: int, stream=None) -> int:
    """The ``verbose`` to pass to ``model.fit`` for ``requested`` on ``stream`` (stdout)."""
    stream = sys.stdout if stream is None else stream
    interactive = getattr(stream, "isatty", lambda: False)()
    return PER_EPOCH if requested == BAR and not interactive else requested
