"""Argument types and help formatting shared by every ``funnel`` command.

A numeric flag is checked by its argparse ``type`` while the command line is
parsed, so ``--min-count -1`` fails at once with one line naming the flag, the
value and the allowed range, before any data is read or TensorFlow imported.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable


def integer(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in ``[minimum, maximum]``."""
    expected = f"an integer >= {minimum}" if maximum is None else \
        f"an integer in [{minimum}, {maximum}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "integer"
    return parse


def number(minimum: float, maximum: float | None = None, *,
           exclusive_minimum: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite float above ``minimum`` (or at it) and at most ``maximum``."""
    low = f"> {minimum}" if exclusive_minimum else f">= {minimum}"
    expected = f"a number {low}" + ("" if maximum is None else f" and <= {maximum}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        too_low = value <= minimum if exclusive_minimum else value < minimum
        if not math.isfinite(value) or too_low or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = "number"
    return parse


positive_int = integer(1)
non_negative_int = integer(0)
positive_float = number(0.0, exclusive_minimum=True)
non_negative_float = number(0.0)
fraction = number(0.0, 1.0)
"""A probability or share, in [0, 1]."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions as written and appends ``(default: X)`` to every flag's help.

    A flag whose help already says its default (the word "default"), or whose
    default is None, suppressed or it is required, is left as written: its help
    states the default in words (e.g. "default: the model's own").
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.default in (None, argparse.SUPPRESS)
                or action.required or not action.option_strings):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line and whose help shows defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")
