"""Typed, frozen configs that reject unknown keys.

CLI flags become one of these; trainers save it in the run folder as JSON, the
exporter copies it into ``manifest.json``. A misspelt key is an error that
names it, never a silently ignored option.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")

KIND = "kind"
"""Key a run's saved config holds beside its fields: the stage that trained it
(:data:`funnel.runs.KINDS`). No config has it as a field; :func:`load` accepts and drops it."""


def from_dict(cls: Type[T], values: Mapping[str, Any]) -> T:
    """Build dataclass ``cls`` from ``values``; unknown keys raise ``ValueError``."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown option(s) {unknown}; valid: {sorted(known)}")
    return cls(**values)


def require_saved_by(cls: Type[T], values: Mapping[str, Any], path: str | Path, command: str) -> None:
    """Refuse a saved config whose keys are not ``cls``'s, in one short line.

    A run of the other stage given as ``--run`` (a ranking run to ``funnel
    evaluate retrieval``) has many keys ``cls`` does not know; naming three of
    them and the command that writes ``cls`` says what went wrong without
    listing every valid option.

    Raises:
        ValueError: ``values`` has keys that are not fields of ``cls``.
    """
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)} - {KIND})
    if unknown:
        shown = ", ".join(unknown[:3]) + (", ..." if len(unknown) > 3 else "")
        raise ValueError(f"{path} was not written by `{command}` (unknown option(s) {shown}): "
                         f"is {Path(path).parent} a run of another stage?")


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def save(config: Any, path: str | Path, kind: str | None = None) -> None:
    """Write ``config`` as JSON to ``path``; a run's config records its ``kind`` beside the fields."""
    values = to_dict(config) if kind is None else {**to_dict(config), KIND: kind}
    Path(path).write_text(json.dumps(values, indent=2, sort_keys=True) + "\n")


def saved_values(path: str | Path) -> dict:
    """The options saved in the JSON file ``path``, without the run's recorded ``kind``."""
    values = json.loads(Path(path).read_text())
    values.pop(KIND, None)
    return values


def load(cls: Type[T], path: str | Path, command: str | None = None,
         absent: Mapping[str, Any] | None = None) -> T:
    """``cls`` from the JSON file ``path``; with ``command`` (the one that writes such
    files) a file of another kind is refused by :func:`require_saved_by`.

    ``absent``: the value a key missing from the file stands for, where a field
    was added with a default other than the behaviour files written before it had.
    """
    raw = {**(absent or {}), **saved_values(path)}
    if command:
        require_saved_by(cls, raw, path, command)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    # JSON has no tuples: restore them where the dataclass declares one.
    for name, value in list(raw.items()):
        if name in fields and isinstance(value, list) and "tuple" in str(fields[name].type):
            raw[name] = tuple(value)
    return from_dict(cls, raw)


def choice(name: str, value: str, registry: Mapping[str, Any]) -> Any:
    """Look ``value`` up in ``registry``; an unknown name lists the valid ones."""
    try:
        return registry[value]
    except KeyError:
        raise ValueError(f"{name}: unknown value {value!r}; choose one of {sorted(registry)}") from None
