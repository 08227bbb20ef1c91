"""A command's paths, checked before TensorFlow or Beam is imported and before anything is created.

Every ``funnel`` handler calls these first, so a mistyped folder costs a fraction
of a second and one line naming the flag, the path and what was expected
(``--data data/m100k: no such folder; expected the output folder of `funnel
preprocess```), and ``--out`` is left as it was. The checks look at names only
(a folder exists, holds its marker file); what the files say is the loaders'
business. This module imports the standard library and the layouts of
:mod:`funnel.schema` and :mod:`funnel.runs` alone; the stage that knows a
folder's layout passes its marker names in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from funnel import schema
from funnel.runs import RunLayout

PREPROCESS_OUTPUT = "the output folder of `funnel preprocess`"
CANDIDATES_OUTPUT = "the --out folder of `funnel candidates`"


class PathRefused(ValueError):
    """A path given on the command line is not what its flag expects."""


def existing(flag: str, path: str | Path, expected: str) -> Path:
    """A raw input: a file or folder that exists."""
    found = Path(path)
    if not found.exists():
        raise PathRefused(f"{flag} {path}: no such file or folder; expected {expected}")
    return found


def folder(flag: str, path: str | Path, expected: str, holds: Iterable[str] = ()) -> Path:
    """A folder that exists and holds a match of each glob pattern of ``holds``."""
    found = Path(path)
    if not found.exists():
        raise PathRefused(f"{flag} {path}: no such folder; expected {expected}")
    if not found.is_dir():
        raise PathRefused(f"{flag} {path}: is a file, not a folder; expected {expected}")
    for pattern in holds:
        if not any(found.glob(pattern)):
            raise PathRefused(f"{flag} {path}: holds no {pattern}; expected {expected}")
    return found


def data_folder(path: str | Path, flag: str = "--data") -> Path:
    """A ``funnel preprocess`` output: a folder holding its feature map."""
    return folder(flag, path, PREPROCESS_OUTPUT, holds=(schema.Layout.FEATURE_MAP,))


def run_folder(path: str | Path, flag: str, trained_by: str) -> Path:
    """A training run: a folder holding the config its trainer saved (``trained_by``: the command)."""
    return folder(flag, path, f"a run folder of `{trained_by}`", holds=(RunLayout.CONFIG,))


def candidates_folder(path: str | Path, flag: str = "--candidates") -> Path:
    """A ``funnel candidates`` output: its ``stats.json`` and list files."""
    return folder(flag, path, CANDIDATES_OUTPUT,
                  holds=(schema.Layout.STATS, f"{schema.Layout.LISTS_DIR}/*.tfrecord"))


def output(path: str | Path, flag: str = "--out") -> Path:
    """An output folder: absent (it will be created) or a folder, never a file."""
    found = Path(path)
    if found.exists() and not found.is_dir():
        raise PathRefused(f"{flag} {path}: is a file; expected a folder to write to (or a new name)")
    return found
