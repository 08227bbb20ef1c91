"""A training run folder: the files both trainers write, and which stage wrote it.

Layout of ``funnel train retrieval`` and ``funnel train ranking`` output::

    RUN/config.json     the trainer's frozen config, plus ``kind``: "retrieval" or "ranking"
    RUN/metrics.json    what training measured
    RUN/weights/model   the final weights (TF checkpoint prefix)
    RUN/dataset/        the data folder's small files (:func:`funnel.outdir.copy_dataset_files`)

Files only one stage writes (IDW history, ``kept.json``) are named by that
stage's ``run`` module; the ``stats.json`` of a data or candidates folder is
:class:`funnel.schema.Layout`'s. Imports the standard library and
:mod:`funnel.config` alone: the CLI's preflight checks and the exporter's run
check read runs before TensorFlow loads.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

from funnel import config as config_lib

RETRIEVAL = "retrieval"
RANKING = "ranking"
KINDS = (RETRIEVAL, RANKING)
"""What ``config.json``'s ``kind`` may say: the stage whose trainer wrote the run."""


@dataclasses.dataclass(frozen=True)
class RunLayout:
    """Where a training run keeps each file below its ``--out`` folder ``root``."""

    root: Path
    CONFIG: ClassVar[str] = "config.json"
    METRICS: ClassVar[str] = "metrics.json"
    WEIGHTS_DIR: ClassVar[str] = "weights"
    WEIGHTS_PREFIX: ClassVar[str] = "model"
    DATASET: ClassVar[str] = "dataset"

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    @property
    def config(self) -> Path:
        return self.root / self.CONFIG

    @property
    def metrics(self) -> Path:
        return self.root / self.METRICS

    @property
    def weights(self) -> Path:
        """The checkpoint prefix ``save_weights``/``load_weights`` take (files ``weights/model.*``)."""
        return self.root / self.WEIGHTS_DIR / self.WEIGHTS_PREFIX

    @property
    def dataset(self) -> Path:
        """The copy of the data folder's small files, so the run loads without its data folder."""
        return self.root / self.DATASET

    def save_config(self, config: Any, kind: str) -> None:
        """Write ``config`` as ``config.json``, recording ``kind`` (one of ``KINDS``) beside its fields."""
        if kind not in KINDS:
            raise ValueError(f"kind: unknown run kind {kind!r}; expected one of {list(KINDS)}")
        config_lib.save(config, self.config, kind=kind)

    def save_metrics(self, metrics: dict) -> None:
        self.metrics.write_text(json.dumps(metrics, indent=2) + "\n")

    def kind(self) -> str | None:
        """The kind ``config.json`` records; None for a run saved before runs recorded it.

        Raises:
            ValueError: the recorded kind is none of ``KINDS``.
        """
        kind = json.loads(self.config.read_text()).get(config_lib.KIND)
        if kind is not None and kind not in KINDS:
            raise ValueError(f"{self.config}: kind {kind!r} is not a run kind; expected one of {list(KINDS)}")
        return kind
