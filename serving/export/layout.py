"""The folders and files of an export: what ``funnel export`` writes and everything else reads.

TF Serving's ``<base>/<model>/<version>/``, one version number per export::

    EXPORT/query/<v>/            SavedModel: history -> M interest embeddings
    EXPORT/candidate/<v>/        SavedModel: item ids -> item embeddings
    EXPORT/retrieval/<v>/        SavedModel: history, k -> top-k (tfrs BruteForce, eq. 4)
    EXPORT/retrieval_scann/<v>/  SavedModel: the same through the tfrs ScaNN layer
    EXPORT/ranking/<v>/          SavedModel: raw feature dict -> click probability
    EXPORT/scann/<v>/            native ScaNN index + row -> item id + item embeddings
    EXPORT/features/<v>/         items.csv, users.csv (raw ids), popular.json
    EXPORT/samples/<v>/          sample inputs and the training-time models' outputs (for verify)
    EXPORT/manifests/<v>.json    the manifest of version v (its presence marks v complete)
    EXPORT/manifest.json         the manifest of the newest version
    EXPORT/models.config         TF Serving model config (stock servables, label ``stable``)
    EXPORT/models_scann.config   the same plus ``retrieval_scann`` (TF Serving with ScaNN ops)
    EXPORT/verify/<v>.log        what verify printed for version v (every check, every signature)

The exporter, ``verify``, the staging step and the service's loader import the
names from here, so none of them imports another to learn a folder's name.
"""

from __future__ import annotations

from pathlib import Path

from funnel import preflight

QUERY, CANDIDATE, RETRIEVAL, RETRIEVAL_SCANN, RANKING = (
    "query", "candidate", "retrieval", "retrieval_scann", "ranking")
SAVEDMODELS = (QUERY, CANDIDATE, RETRIEVAL, RETRIEVAL_SCANN, RANKING)
SCANN, FEATURES, SAMPLES = "scann", "features", "samples"
FOLDERS = SAVEDMODELS + (SCANN, FEATURES, SAMPLES)
STOCK_SERVABLES = (QUERY, CANDIDATE, RETRIEVAL, RANKING)
"""Models a stock TF Serving binary loads (``retrieval_scann`` needs ScaNN's ops)."""
SCHEMA_ASSET = "schema.json"
MANIFEST = "manifest.json"
MANIFEST_DIR = "manifests"
MODELS_CONFIG = "models.config"
MODELS_SCANN_CONFIG = "models_scann.config"
POPULAR_FILE = "popular.json"
SAMPLES_FILE = "reference.npz"
VERIFY_LOG_DIR = "verify"


def verify_log(export_dir: str | Path, version: int) -> Path:
    """``EXPORT/verify/<version>.log``: verify's whole output, which the terminal gets summarised."""
    return Path(export_dir) / VERIFY_LOG_DIR / f"{version}.log"


def write_verify_log(export_dir: str | Path, version: int, output: str) -> Path:
    path = verify_log(export_dir, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(output)
    return path


def verify_summary(output: str) -> tuple[int, list[str]]:
    """``(checks passed, the FAIL lines)`` of verify's output (its lines start ``OK`` or ``FAIL``)."""
    lines = output.splitlines()
    return sum(line.startswith("OK") for line in lines), [line for line in lines if line.startswith("FAIL")]


def require_export(path: str | Path, flag: str = "--export") -> Path:
    """``path`` as an export with a complete version (a ``manifests/<v>.json``), checked by name
    before anything heavy is imported; else :class:`funnel.preflight.PathRefused` naming ``flag``."""
    return preflight.folder(flag, path, "a folder written by `funnel export`",
                            holds=(f"{MANIFEST_DIR}/*.json",))


def complete_versions(export_dir: str | Path) -> list[int]:
    """Versions whose manifest was written (the last step of an export), ascending."""
    folder = Path(export_dir) / MANIFEST_DIR
    if not folder.is_dir():
        return []
    return sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
