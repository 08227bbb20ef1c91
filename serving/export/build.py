"""``funnel export``: a retrieval run and a ranking run -> one versioned, servable export.

The export's folders are :mod:`serving.contract`'s.
Everything is written under ``EXPORT/.staging-*`` in this same layout,
verified there in a fresh process, and renamed into place only when complete
and verified (:mod:`serving.export.staging`); on any failure, a failed verify
included, the staged and renamed folders are removed again, so earlier
versions stay untouched and no half-written or unverified version is visible.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from funnel import config as config_lib
from funnel import dataset, schema
from funnel.runs import RunLayout
from retrieval import index
from serving.export import recall, run_kinds, warmup
from serving.contract import (CANDIDATE, FEATURES, FOLDERS, MANIFEST, MANIFEST_CANDIDATES, MANIFEST_DIR, MODELS_CONFIG,
                              MODELS_SCANN_CONFIG, POPULAR_FILE, QUERY, RANKING, RETRIEVAL, RETRIEVAL_SCANN,
                              SAMPLES, SAMPLES_FILE, SAVEDMODELS, SCANN, SCHEMA_ASSET, STOCK_SERVABLES,
                              complete_versions)
from serving.export.staging import Staging, VerificationFailedError, remove_abandoned
from serving.export.verify_log import write_verify_log
from serving.ranking_rows import candidate_inputs

logger = logging.getLogger(__name__)

STABLE_LABEL = "stable"
WARMUP_BATCH = 4


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """Options of one export (recorded in ``manifest.json``).

    Attributes:
        min_recall: ScaNN recall@``recall_k`` against brute force the export
            must reach; lowering it below 0.95 is stated in the manifest.
        recall_k: k of the recall check (100).
        held_out_queries: at most this many held-out histories for the check.
        max_widenings: times the ScaNN search may be widened to reach the bar.
        data_dir: pipeline output whose test split gives held-out histories;
            without it histories are sampled from the item frequencies.
        serving_root: where TF Serving sees this folder (``models.config`` paths).
        popular: length of the most-popular item list.
        samples: sample histories/rows stored for ``verify``.
        seed: sampling seed.
        verify: verify the staged version in a fresh process before publishing
            it (off: published unverified, and the manifest says so).
        tolerance: verify's largest allowed difference to the training-time models.
    """

    min_recall: float = index.DEFAULT_MIN_RECALL
    recall_k: int = index.DEFAULT_RECALL_K
    held_out_queries: int = 500
    max_widenings: int = 3
    data_dir: str | None = None
    serving_root: str = "/models"
    popular: int = 1000
    samples: int = 8
    seed: int = 0
    verify: bool = True
    tolerance: float = 1e-5

    def __post_init__(self):
        if not 0.0 < self.min_recall <= 1.0:
            raise ValueError(f"min_recall: {self.min_recall} must be in (0, 1]")
        for name in ("recall_k", "held_out_queries", "popular", "samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1, got {getattr(self, name)}")


@dataclasses.dataclass(frozen=True)
class ExportResult:
    version: int
    root: Path
    manifest: dict
    verify_output: str = ""
    verify_log: Path | None = None
    """``EXPORT/verify/<version>.log``, holding ``verify_output``; None when not verified."""


# ------------------------------------------------------------------ versions
def _numeric_dirs(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return [int(p.name) for p in folder.iterdir() if p.is_dir() and p.name.isdigit()]


def next_version(export_dir: str | Path) -> int:
    """One more than any version folder or manifest in ``export_dir`` (starts at 1)."""
    root = Path(export_dir)
    seen = complete_versions(root)
    for name in FOLDERS:
        seen += _numeric_dirs(root / name)
    return max(seen, default=0) + 1


# ------------------------------------------------------------- small writers
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one rename (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def schema_document() -> dict:
    """The contract a model was exported under; every SavedModel carries it as ``schema.json``."""
    return {
        "schema_version": schema.SCHEMA_VERSION,
        "fingerprint": schema.fingerprint(),
        "max_sequence_length": schema.MAX_SEQUENCE_LENGTH,
        "ids": {"padding": schema.PADDING_ID, "oov": schema.OOV_ID,
                "first_value": schema.FIRST_VALUE_ID},
        "max_numeric_bucket": schema.MAX_NUMERIC_BUCKET,
        "features": [{"name": f.name, "kind": f.kind.value, "source": f.source.value}
                     for f in schema.RANKING_FEATURES],
    }


def models_config(versions: dict[str, int], serving_root: str, models: tuple[str, ...],
                  previous: int | None = None) -> str:
    """TF Serving's ``ModelServerConfig`` text proto: each model pinned to its version,
    labelled ``stable``.

    ``previous`` (the version before this export) stays loaded beside the new
    one: the service names the version in every call and switches only after
    TF Serving reports the new one AVAILABLE, so unloading the old version as
    soon as this file changes would fail the requests still sent to it.
    """
    lines = ["model_config_list {"]
    for name in models:
        version = versions[name]
        kept = ([previous] if previous not in (None, version) else []) + [version]
        pinned = " ".join(f"versions: {v}" for v in kept)
        lines += [
            "  config {",
            f'    name: "{name}"',
            f'    base_path: "{serving_root.rstrip("/")}/{name}"',
            '    model_platform: "tensorflow"',
            f"    model_version_policy {{ specific {{ {pinned} }} }}",
            f'    version_labels {{ key: "{STABLE_LABEL}" value: {version} }}',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------- the inputs
@dataclasses.dataclass
class Runs:
    """Both trained runs, loaded, with what the export derives from them."""

    retrieval_dir: Path
    ranking_dir: Path
    retrieval_model: object
    retrieval_config: object
    ranking_model: object
    ranking_config: object
    vocabularies: dict[str, Path]
    item_ids: np.ndarray        # raw ids of the catalog rows, [N]
    item_index: np.ndarray      # vocabulary ids of the catalog rows, [N]
    item_embeddings: np.ndarray  # [N, D]


def _dataset_copy(run_dir: Path) -> Path:
    copy = RunLayout(run_dir).dataset
    if not (copy / schema.Layout.FEATURE_MAP).exists():
        raise FileNotFoundError(f"{copy} has no {schema.Layout.FEATURE_MAP}: {run_dir} is not a "
                                "complete training run")
    return copy


def load_runs(retrieval_dir: str | Path, ranking_dir: str | Path) -> Runs:
    """Load both runs and check they were trained on the same vocabularies."""
    from ranking.run import load_trained as load_ranking
    from retrieval.run import load_trained as load_retrieval

    retrieval_dir, ranking_dir = Path(retrieval_dir), Path(ranking_dir)
    retrieval_data, ranking_data = _dataset_copy(retrieval_dir), _dataset_copy(ranking_dir)
    vocabularies = {}
    for name in schema.CATEGORICAL_VOCABULARIES:
        path = schema.Layout(ranking_data).vocab_file(name)
        if not path.exists():
            raise FileNotFoundError(f"{path} missing: the ranking run's dataset copy needs every "
                                    f"vocabulary of schema.CATEGORICAL_VOCABULARIES")
        vocabularies[name] = path
    retrieval_items = schema.Layout(retrieval_data).vocab_file(schema.ITEM_ID)
    if sha256_file(retrieval_items) != sha256_file(vocabularies[schema.ITEM_ID]):
        raise ValueError(f"vocab/{schema.ITEM_ID}.txt differs between the retrieval run "
                         f"{retrieval_dir} and the ranking run {ranking_dir}: train both on the "
                         "same `funnel preprocess` output")
    retrieval_model, retrieval_config = load_retrieval(retrieval_dir)
    ranking_model, ranking_config = load_ranking(ranking_dir)
    item_ids = np.array(dataset.read_vocabulary(retrieval_data, schema.ITEM_ID), dtype=object)
    if len(item_ids) == 0:
        raise ValueError(f"{retrieval_items}: empty item vocabulary, nothing to export")
    item_index = np.arange(len(item_ids), dtype=np.int64) + schema.FIRST_VALUE_ID
    embeddings = retrieval_model.item_embeddings(item_index).astype(np.float32)
    return Runs(retrieval_dir, ranking_dir, retrieval_model, retrieval_config, ranking_model,
                ranking_config, vocabularies, item_ids, item_index, embeddings)


def held_out_histories(runs: Runs, options: ExportOptions) -> tuple[np.ndarray, str]:
    """Id histories ``[Q, L]`` for the recall check, and where they came from.

    The test split of ``options.data_dir`` when given (queries the model never
    trained on), else histories of 1-30 items drawn by training frequency.
    """
    if options.data_dir:
        examples = dataset.load_arrays(dataset.retrieval_dataset(options.data_dir, schema.TEST))
        histories = examples[schema.HISTORY][:options.held_out_queries]
        return histories.astype(np.int64), f"test split of {options.data_dir}"
    rng = np.random.default_rng(options.seed)
    frequencies = dataset.item_frequencies(RunLayout(runs.retrieval_dir).dataset)[runs.item_index] + 1.0
    histories = np.zeros((options.held_out_queries, schema.MAX_SEQUENCE_LENGTH), np.int64)
    for row in histories:
        length = rng.integers(1, schema.MAX_SEQUENCE_LENGTH + 1)
        row[-length:] = rng.choice(runs.item_index, size=length, p=frequencies / frequencies.sum())
    return histories, "histories sampled by training item frequency"


def user_embeddings(runs: Runs, histories: np.ndarray) -> np.ndarray:
    """Training-time user tower on id histories [Q, L] -> [Q, M, D]."""
    import tensorflow as tf

    parts = [runs.retrieval_model.user_tower(tf.constant(histories[i:i + 1024]), training=False).numpy()
             for i in range(0, len(histories), 1024)]
    return np.concatenate(parts)


# ---------------------------------------------------------------- the export
def export(retrieval_run: str | Path, ranking_run: str | Path, out: str | Path,
           options: ExportOptions = ExportOptions(), gate=None) -> ExportResult:
    """Export both runs as the next version of ``out``; see the module docstring.

    The version is built in staging, its ScaNN index widened until both
    :mod:`serving.export.recall` measures reach ``options.min_recall``, verified in a
    fresh process, and only then published (:mod:`serving.export.staging`).
    ``gate(staged_export_dir, version) -> dict``, when given, runs on the staged
    version after verify and before publishing; its result is the manifest's
    ``gate`` (:mod:`serving.evaluation.gate`: ranking or retrieval order for the service).

    Raises:
        index.RecallTooLowError: the ScaNN index misses the recall bar.
        VerificationFailedError: the staged version failed verify (not published).
        ValueError, FileNotFoundError: the runs are incomplete or disagree.
    """
    run_kinds.require(retrieval_run, "retrieval", "--retrieval")
    run_kinds.require(ranking_run, "ranking", "--ranking")
    runs = load_runs(retrieval_run, ranking_run)
    histories, held_out_source = held_out_histories(runs, options)
    root = Path(out)  # created only once both runs load; removed again if this first build fails
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    remove_abandoned(root)
    version = next_version(root)
    staging = Staging(root, version)
    verify_output = ""
    try:
        staging.start()
        staging.sources.mkdir()
        schema_file = staging.sources / SCHEMA_ASSET
        schema_file.write_text(json.dumps(schema_document(), indent=2, sort_keys=True))
        vocab_sources = _copy_vocabularies(runs, staging.sources)
        built = _build_modules(runs, schema_file, vocab_sources)
        held_out = recall.raw_histories(histories, runs.item_ids)
        searcher, checked = index.build_checked(
            runs.item_embeddings,
            user_embeddings(runs, histories).reshape(-1, runs.item_embeddings.shape[1]), k=options.recall_k,
            min_recall=options.min_recall, max_widenings=options.max_widenings,
            also=_layer_recall(runs, built, schema_file, held_out, options.recall_k))
        signatures = _write_savedmodels(runs, staging, built, options)
        index.save(searcher, staging.folder(SCANN), list(runs.item_ids), runs.item_embeddings,
                   checked.params)
        _write_features(runs, staging.folder(FEATURES), options)
        _write_samples(runs, staging.folder(SAMPLES), options, held_out)
        manifest = _manifest(runs, version, checked, held_out_source, options, vocab_sources, signatures)
        shutil.rmtree(staging.sources)
        staging.write_manifest(manifest)
        manifest["verify"] = {"verified": False}
        if options.verify:
            report, verify_output = staging.verify(options.tolerance)
            manifest["verify"] = {"verified": True, **report}
        if gate is not None:
            manifest["gate"] = gate(staging.dir, version)
            manifest[MANIFEST_CANDIDATES]["default"] = manifest["gate"]["candidates"]
            staging.write_manifest(manifest)
        staging.publish(FOLDERS)
        write_atomic(root / MANIFEST_DIR / f"{version}.json", json.dumps(manifest, indent=2))
    except BaseException:
        logger.error("export of version %d failed; removing it", version)
        staging.rollback()
        if created and not any(root.iterdir()):
            root.rmdir()
        raise
    staging.cleanup()
    versions = {name: version for name in SAVEDMODELS}
    older = [v for v in complete_versions(root) if v < version]
    previous = older[-1] if older else None
    write_atomic(root / MODELS_CONFIG,
                 models_config(versions, options.serving_root, STOCK_SERVABLES, previous))
    write_atomic(root / MODELS_SCANN_CONFIG,
                 models_config(versions, options.serving_root, STOCK_SERVABLES + (RETRIEVAL_SCANN,), previous))
    write_atomic(root / MANIFEST, json.dumps(manifest, indent=2))
    verify_log = write_verify_log(root, version, verify_output) if options.verify else None
    logger.info("exported version %d to %s (ScaNN recall@%d %.4f)", version, root, checked.k,
                checked.recall)
    return ExportResult(version, root, manifest, verify_output, verify_log)


def _build_modules(runs: Runs, schema_file: Path, vocabularies: dict[str, Path]) -> dict:
    """Every servable module but ``retrieval_scann`` (built by the recall check)."""
    from serving.export import modules

    item_vocab = str(vocabularies[schema.ITEM_ID])
    query = modules.QueryModel(runs.retrieval_model.user_tower, item_vocab, str(schema_file))
    return {
        QUERY: query,
        CANDIDATE: modules.CandidateModel(runs.retrieval_model.item_tower, item_vocab,
                                          str(schema_file)),
        RETRIEVAL: modules.BruteForceRetrieval(query, runs.item_embeddings, runs.item_ids.astype(str),
                                               runs.retrieval_config.scoring, str(schema_file)),
        RANKING: modules.RankingModel(runs.ranking_model, {n: str(p) for n, p in vocabularies.items()},
                                      str(schema_file)),
    }


def _layer_recall(runs: Runs, built: dict, schema_file: Path, held_out: np.ndarray, k: int):
    """``also`` of ``index.build_checked``: builds ``retrieval_scann`` (the tfrs ScaNN layer) with
    the candidate parameters into ``built`` and measures its top-k overlap with brute force
    on the held-out histories (:data:`recall.LAYER`, what verify measures)."""
    import tensorflow as tf

    from serving.export import modules

    k = min(k, len(runs.item_ids))
    inputs = {schema.HISTORY: held_out.astype(str), modules.K: np.full(len(held_out), k, np.int32)}
    per_call = recall.histories_per_call(len(runs.item_ids), int(runs.retrieval_config.interests))

    def ids(layer) -> np.ndarray:
        return recall.call_in_blocks(
            lambda block: {modules.ITEM_IDS: layer.serve(tf.constant(block[schema.HISTORY]),
                                                          tf.constant(block[modules.K]))[modules.ITEM_IDS]},
            inputs, per_call)[modules.ITEM_IDS]

    exact = ids(built[RETRIEVAL])

    def measure(params: index.ScannParams) -> dict[str, float]:
        built[RETRIEVAL_SCANN] = modules.ScannRetrieval(
            built[QUERY], runs.item_embeddings, runs.item_ids.astype(str), runs.retrieval_config.scoring,
            params, str(schema_file))
        return {recall.LAYER: recall.top_k_overlap(ids(built[RETRIEVAL_SCANN]), exact)}

    return measure


def _copy_vocabularies(runs: Runs, folder: Path) -> dict[str, Path]:
    """Private copies of the vocabularies: the SavedModels' assets are copied from these."""
    copies = {}
    for name, path in runs.vocabularies.items():
        copies[name] = folder / f"{name}.txt"
        shutil.copy2(path, copies[name])
    return copies


def _write_savedmodels(runs: Runs, staging: Staging, built: dict,
                       options: ExportOptions) -> dict[str, list[str]]:
    """Save every SavedModel with its warm-up requests; returns each model's signature names."""
    import tensorflow as tf
    # Keras otherwise traces every layer's call for its own reloading; only the signatures
    # are served (and verified), so that tracing is minutes of export time for nothing.
    from tf_keras.src.saving.legacy.saved_model import utils as keras_saved_model_utils

    requests = warmup_inputs(runs, options)
    signatures = {}
    for name, module in built.items():
        target = staging.folder(name)
        save_options = tf.saved_model.SaveOptions(
            namespace_whitelist=["Scann"] if name == RETRIEVAL_SCANN else None)
        functions = module.signatures()
        with keras_saved_model_utils.keras_option_scope(save_traces=False):
            tf.saved_model.save(module, str(target), signatures=functions, options=save_options)
        warmup.write(target, [warmup.prediction_log(name, signature, inputs)
                              for signature, inputs in requests[name]])
        signatures[name] = sorted(functions)
    return signatures


def sample_histories(runs: Runs, count: int, seed: int) -> np.ndarray:
    """Raw string histories [count, L] ("" padded on the left) of catalog items."""
    rng = np.random.default_rng(seed)
    histories = np.full((count, schema.MAX_SEQUENCE_LENGTH), schema.UNKNOWN_VALUE, dtype=object)
    for b, row in enumerate(histories):
        length = 1 + (b * 7) % schema.MAX_SEQUENCE_LENGTH
        row[-length:] = rng.choice(runs.item_ids, size=length)
    return histories


def sample_ranking_inputs(runs: Runs, count: int, seed: int) -> dict[str, np.ndarray]:
    """Raw ranking rows: known users and items with their attributes, varied context."""
    rng = np.random.default_rng(seed + 1)
    users = dataset.user_table(RunLayout(runs.ranking_dir).dataset)
    items = dataset.item_table(RunLayout(runs.ranking_dir).dataset)
    user_rows = users.iloc[rng.integers(0, len(users), count)] if len(users) else None
    item_rows = items.iloc[rng.integers(0, len(items), count)]
    raw = {}
    for f in schema.RANKING_FEATURES:
        if f.kind is schema.Kind.SEQUENCE:
            raw[f.name] = sample_histories(runs, count, seed + 2)
            continue
        table = {schema.Source.USER: user_rows, schema.Source.ITEM: item_rows}.get(f.source)
        if f.kind is schema.Kind.NUMERIC:
            column = (table[f.name].to_numpy() if table is not None and f.name in table.columns
                      else rng.uniform(0, 60, count))
            raw[f.name] = pd.to_numeric(pd.Series(column), errors="coerce").to_numpy(np.float64)
        elif f.name == schema.HOUR:
            raw[f.name] = np.array([str(h) for h in rng.integers(0, 24, count)], dtype=object)
        elif f.name == schema.WEEKDAY:
            raw[f.name] = np.array([str(d) for d in rng.integers(0, 7, count)], dtype=object)
        elif table is not None and f.name in table.columns:
            raw[f.name] = table[f.name].astype(str).to_numpy(dtype=object)
        else:
            raw[f.name] = np.full(count, schema.UNKNOWN_VALUE, dtype=object)
    if getattr(runs.ranking_model, "uses_candidate_features", False):
        raw.update(sample_candidate_features(rng, count, int(runs.retrieval_config.interests)))
    return raw


def sample_candidate_features(rng: np.random.Generator, count: int, interests: int) -> dict[str, np.ndarray]:
    """Plausible ``schema.CANDIDATE_FEATURES`` rows (float32) for warm-up and verify samples."""
    score = rng.normal(0.0, 2.0, count).astype(np.float32)
    return {schema.RETRIEVAL_SCORE: score,
            schema.RETRIEVAL_RANK: rng.integers(0, 200, count).astype(np.float32),
            schema.INTEREST: rng.integers(0, interests, count).astype(np.float32),
            schema.INTEREST_SCORE: score + rng.uniform(0.0, 1.0, count).astype(np.float32),
            schema.LAST_ITEM_SIMILARITY: rng.uniform(-1.0, 1.0, count).astype(np.float32)}


def warmup_inputs(runs: Runs, options: ExportOptions) -> dict[str, list[tuple[str, dict]]]:
    """Warm-up requests per model: (signature, inputs) at batch 1 and ``WARMUP_BATCH``."""
    from serving.export import modules

    histories = sample_histories(runs, WARMUP_BATCH, options.seed)
    ranking = sample_ranking_inputs(runs, WARMUP_BATCH, options.seed)
    context = {f.name for f in schema.RANKING_FEATURES if f.source is schema.Source.CONTEXT}
    int_context = {name: (np.array([int(v) for v in value], np.int64) if name in context else value)
                   for name, value in ranking.items()}
    k = min(10, len(runs.item_ids))
    requests = {}
    for batch in (1, WARMUP_BATCH):
        h = histories[:batch]
        requests.setdefault(QUERY, []).append((modules.SERVING_DEFAULT, {schema.HISTORY: h}))
        requests.setdefault(CANDIDATE, []).append(
            (modules.SERVING_DEFAULT, {modules.ITEM_IDS: runs.item_ids[:batch]}))
        for name in (RETRIEVAL, RETRIEVAL_SCANN):
            requests.setdefault(name, []).append(
                (modules.SERVING_DEFAULT, {schema.HISTORY: h, modules.K: np.full(batch, k, np.int32)}))
        requests.setdefault(RANKING, []).append(
            (modules.SERVING_DEFAULT, {n: v[:batch] for n, v in ranking.items()}))
    requests[RANKING].append((modules.CONTEXT_INT64, {n: v[:1] for n, v in int_context.items()}))
    for batch in (1, 2):
        requests[RANKING].append((modules.CANDIDATES, candidate_inputs(ranking, batch)))
    return requests


def _write_features(runs: Runs, folder: Path, options: ExportOptions) -> None:
    """Item and user tables keyed by raw id, and the most popular items."""
    folder.mkdir(parents=True)
    source = RunLayout(runs.ranking_dir).dataset
    items = dataset.item_table(source).reset_index(drop=True)
    items.to_csv(folder / schema.Layout.ITEMS, index=False)
    users = dataset.user_table(source).reset_index(drop=True)
    users.to_csv(folder / schema.Layout.USERS, index=False)
    ranked = items.sort_values(schema.ITEM_FREQUENCY, ascending=False, kind="stable")
    popular = ranked[[schema.ITEM_ID, schema.ITEM_FREQUENCY]].head(options.popular)
    (folder / POPULAR_FILE).write_text(json.dumps(
        {"item_ids": popular[schema.ITEM_ID].astype(str).tolist(),
         "counts": popular[schema.ITEM_FREQUENCY].astype(float).tolist()}, indent=1))


def _write_samples(runs: Runs, folder: Path, options: ExportOptions, held_out: np.ndarray) -> None:
    """Sample raw inputs and the training-time models' outputs on them (a list ranker's exact
    logits too), and the held-out histories of the recall check (for ``verify``)."""
    import tensorflow as tf

    from serving.export import modules

    folder.mkdir(parents=True)
    histories = sample_histories(runs, options.samples, options.seed + 10)
    row_of = {item: r for r, item in enumerate(runs.item_ids)}
    id_histories = np.array([[schema.PADDING_ID if v == schema.UNKNOWN_VALUE
                              else runs.item_index[row_of[v]] for v in row] for row in histories],
                            dtype=np.int64)
    embeddings = user_embeddings(runs, id_histories)
    item_sample = runs.item_ids[np.linspace(0, len(runs.item_ids) - 1, options.samples).astype(int)]
    item_sample_ids = runs.item_index[[row_of[i] for i in item_sample]]
    candidate = runs.retrieval_model.item_tower(tf.constant(item_sample_ids), training=False).numpy()
    k = min(10, len(runs.item_ids))
    from retrieval.model import interest_scores
    scores = interest_scores(embeddings, runs.item_embeddings, runs.retrieval_config.scoring).numpy()
    top_rows = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    raw = sample_ranking_inputs(runs, options.samples, options.seed + 20)
    encoded = encode_ranking_rows(runs, raw)
    ranked = modules.ranking_outputs(runs.ranking_model, {n: tf.constant(v) for n, v in encoded.items()})
    arrays = {
        f"query/{schema.HISTORY}": histories.astype(str), "query/embeddings": embeddings,
        f"candidate/{modules.ITEM_IDS}": item_sample.astype(str), "candidate/embeddings": candidate,
        "retrieval/k": np.array(k), "retrieval/item_ids": runs.item_ids[top_rows].astype(str),
        "retrieval/scores": np.take_along_axis(scores, top_rows, axis=1),
        "ranking/probability": ranked[modules.PROBABILITY].numpy(), recall.HISTORY_SAMPLE: held_out.astype(str),
    }
    if modules.has_exact_logits(runs.ranking_model):  # a pointwise logit is derived from the probability
        arrays["ranking/logit"] = ranked[modules.LOGIT].numpy()
    for name, value in raw.items():
        arrays[f"ranking/input/{name}"] = value.astype(str) if value.dtype == object else value
    np.savez(folder / SAMPLES_FILE, **arrays)


def encode_ranking_rows(runs: Runs, raw: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Raw ranking rows -> the int64 features the pipeline writes, in Python, by the
    schema's rules (the reference the exported lookups are checked against)."""
    encoded = {}
    vocab_ids = {name: {v: schema.FIRST_VALUE_ID + i for i, v in
                        enumerate(dataset.read_vocabulary(RunLayout(runs.ranking_dir).dataset, name))}
                 for name in schema.CATEGORICAL_VOCABULARIES}
    for f in schema.RANKING_FEATURES:
        values = raw[f.name]
        if f.kind is schema.Kind.SEQUENCE:
            items = vocab_ids[schema.ITEM_ID]
            rows = []
            for row in values:
                kept = [items.get(v, schema.OOV_ID) for v in row if v != schema.UNKNOWN_VALUE]
                kept = kept[-schema.MAX_SEQUENCE_LENGTH:]
                rows.append([schema.PADDING_ID] * (schema.MAX_SEQUENCE_LENGTH - len(kept)) + kept)
            encoded[f.name] = np.array(rows, dtype=np.int64)
        elif f.kind is schema.Kind.NUMERIC:
            encoded[f.name] = np.array([min(schema.log_square_bucket(float(v)), schema.MAX_NUMERIC_BUCKET)
                                        for v in values], dtype=np.int64)
        else:
            table = vocab_ids[f.name]
            encoded[f.name] = np.array([schema.OOV_ID if str(v) == schema.UNKNOWN_VALUE
                                        else table.get(str(v), schema.OOV_ID) for v in values],
                                       dtype=np.int64)
    encoded[schema.HISTORY_LENGTH] = (encoded[schema.HISTORY] != schema.PADDING_ID).sum(axis=1)
    encoded.update({name: np.asarray(raw[name], np.float32) for name in schema.CANDIDATE_FEATURES if name in raw})
    return encoded


def _manifest(runs: Runs, version: int, checked: index.RecallReport, held_out_source: str,
              options: ExportOptions, vocabularies: dict[str, Path],
              signatures: dict[str, list[str]]) -> dict:
    def run_info(run_dir: Path, config) -> dict:
        metrics_path = RunLayout(run_dir).metrics
        return {"run": str(run_dir.resolve()), "config": config_lib.to_dict(config),
                "metrics": json.loads(metrics_path.read_text()) if metrics_path.exists() else None}

    from ranking.run import list_width

    width = list_width(runs.ranking_dir)
    scann = checked.to_dict()
    scann["held_out_source"] = held_out_source
    scann["held_out_histories"] = checked.num_queries // int(runs.retrieval_config.interests)
    scann["min_recall_lowered"] = options.min_recall < index.DEFAULT_MIN_RECALL
    return {
        "version": version,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "models": {name: {"version": version, "path": f"{name}/{version}",
                          **({"signatures": signatures[name]} if name in signatures else {})}
                   for name in FOLDERS},
        "stock_servables": list(STOCK_SERVABLES),
        "schema": {"version": schema.SCHEMA_VERSION, "fingerprint": schema.fingerprint()},
        "vocabularies": {name: {"sha256": sha256_file(path),
                                "size": sum(1 for _ in open(path, encoding="utf-8"))}
                         for name, path in vocabularies.items()},
        "catalog": {"items": int(len(runs.item_ids)),
                    "embedding_dim": int(runs.item_embeddings.shape[1]),
                    "interests": int(runs.retrieval_config.interests),
                    "scoring": runs.retrieval_config.scoring},
        "retrieval": run_info(runs.retrieval_dir, runs.retrieval_config),
        "ranking": run_info(runs.ranking_dir, runs.ranking_config),
        MANIFEST_CANDIDATES: {"list_width": width, "default": width or schema.DEFAULT_LIST_CANDIDATES},
        "scann": scann,
        "ranking_inputs": {"candidate_features": bool(getattr(runs.ranking_model, "uses_candidate_features", False)),
                           "names": list(schema.CANDIDATE_FEATURES)
                           if getattr(runs.ranking_model, "uses_candidate_features", False) else []},
        "options": dataclasses.asdict(options),
    }
