"""Which stage trained a run folder, told from its ``config.json`` alone.

``funnel export`` checks ``--retrieval`` and ``--ranking`` with :func:`require`
before it loads a model or creates its output folder, so swapped runs are one
line ("RUN is a ranking run; --retrieval needs a retrieval run") instead of a
config error listing every option of the wrong stage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from funnel import config as config_lib
from funnel import runs
from ranking.config import RankingConfig
from retrieval.config import RetrievalConfig

RUN_CONFIGS = {runs.RETRIEVAL: RetrievalConfig, runs.RANKING: RankingConfig}
"""Run kind -> the config its trainer saves as ``RUN/config.json``."""


def run_kind(run_dir: str | Path) -> str:
    """``"retrieval"`` or ``"ranking"``: the ``kind`` its ``config.json`` records.

    Runs saved before configs recorded their kind are told by their keys: the
    config whose fields hold every key of ``config.json``.

    Raises:
        FileNotFoundError: ``run_dir`` has no ``config.json`` (not a finished training run).
        ValueError: the recorded kind is unknown, or (without one) its keys fit neither config.
    """
    layout = runs.RunLayout(run_dir)
    if not layout.config.is_file():
        raise FileNotFoundError(f"{layout.config} not found: {run_dir} is not a finished run of "
                                "`funnel train retrieval` or `funnel train ranking`")
    recorded = layout.kind()
    if recorded is not None:
        return recorded
    keys = set(config_lib.saved_values(layout.config))
    for kind, config in RUN_CONFIGS.items():
        if keys <= {field.name for field in dataclasses.fields(config)}:
            return kind
    raise ValueError(f"{layout.config}: its keys fit neither a retrieval nor a ranking config")


def require(run_dir: str | Path, kind: str, flag: str) -> None:
    """Raise ``ValueError`` unless ``run_dir`` is a ``kind`` run (``flag`` names where it was given)."""
    found = run_kind(run_dir)
    if found != kind:
        raise ValueError(f"{run_dir} is a {found} run; {flag} needs a {kind} run")
