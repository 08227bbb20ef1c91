"""``funnel export verify EXPORT``: load every exported model in a fresh process and check it.

The checks, each printed as ``OK`` or ``FAIL`` (any ``FAIL`` -> exit code 1):

- the SavedModels carry one schema fingerprint, equal to this code's and the manifest's;
- every signature, printed as ``saved_model_cli show --all`` does, has named
  outputs (no ``output_N``);
- outputs through the serving signatures match the training-time models'
  outputs on the export's sample inputs (``samples/<v>/reference.npz``,
  written by the exporter from the Keras models) within ``--tolerance``
  (1e-5), a ranker's ``logit`` too where the exporter recorded it (a ranker
  of candidate lists; a pointwise logit is the log-odds of ``probability``,
  checked to be its inverse sigmoid); the ScaNN model and index reach the
  manifest's recall bar on them;
- the query and ranking signatures answer batches of 1 and 500 identically
  to the samples they repeat;
- a TF Serving REST predict body in row format (``{"instances": [...]}``) and
  in columnar format (``{"inputs": {...}}``) maps onto every signature and
  gives the same outputs as a direct call;
- every warm-up request in ``assets.extra`` parses and runs.

``verify_in_subprocess`` is what the CLI calls: the checks run under
``python -m serving.export.verify`` so nothing from the exporting process (traced
functions, Keras objects, open tables) can hide a broken SavedModel.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np

import funnel  # noqa: F401
from funnel import schema
from serving import contract
from serving.ranking_rows import candidate_inputs, expand_candidates

DEFAULT_TOLERANCE = 1e-5
LARGE_BATCH = 500

_DTYPE_NAMES = None


class RestMappingError(ValueError):
    """A REST predict body does not map onto a signature's inputs."""


# ------------------------------------------------------------ signatures
def read_signatures(savedmodel_dir: str | Path) -> dict:
    """``{signature name: SignatureDef}`` of the ``serve`` MetaGraph, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    model.ParseFromString((Path(savedmodel_dir) / "saved_model.pb").read_bytes())
    for meta_graph in model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    raise ValueError(f"{savedmodel_dir}: no MetaGraph tagged 'serve'")


def _dtype_name(enum_value: int) -> str:
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(enum_value)


def _shape_text(tensor_info) -> str:
    if tensor_info.tensor_shape.unknown_rank:
        return "unknown_rank"
    dims = [d.size for d in tensor_info.tensor_shape.dim]
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def format_signatures(signatures: dict) -> str:
    """Signatures as ``saved_model_cli show --dir D --all`` prints them."""
    lines = []
    for name in sorted(signatures):
        definition = signatures[name]
        lines.append(f"\nsignature_def['{name}']:")
        for role, tensors in (("input", definition.inputs), ("output", definition.outputs)):
            lines.append(f"  The given SavedModel SignatureDef contains the following {role}(s):")
            for key in sorted(tensors):
                info = tensors[key]
                lines += [f"    {role}s['{key}'] tensor_info:",
                          f"        dtype: {_dtype_name(info.dtype)}",
                          f"        shape: {_shape_text(info)}",
                          f"        name: {info.name}"]
        lines.append(f"  Method name is: {definition.method_name}")
    return "\n".join(lines)


def input_specs(signature_def) -> dict[str, tuple[np.dtype, tuple]]:
    """``{input name: (numpy dtype, shape with None for unknown dims)}`` of a SignatureDef."""
    import tensorflow as tf

    specs = {}
    for key, info in signature_def.inputs.items():
        dims = tuple(None if d.size < 0 else d.size for d in info.tensor_shape.dim)
        specs[key] = (tf.as_dtype(info.dtype).as_numpy_dtype, dims)
    return specs


# ------------------------------------------------------------- REST bodies
def _decode(value, dtype):
    """JSON value -> NumPy value of ``dtype``; ``{"b64": ...}`` is base64 bytes (TF Serving)."""
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise RestMappingError(f"object {sorted(value)} where a value was expected "
                                   "(only {\"b64\": ...} is allowed)")
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode(v, dtype) for v in value]
    return value


def _as_tensor(name: str, value, spec) -> np.ndarray:
    dtype, shape = spec
    decoded = _decode(value, dtype)
    try:
        array = np.array(decoded, dtype=object if dtype == np.object_ else dtype)
    except (TypeError, ValueError) as error:
        raise RestMappingError(f"input {name!r}: cannot convert to {np.dtype(dtype).name}: {error}")
    if dtype == np.object_:
        flat = array.reshape(-1)
        if any(not isinstance(v, (str, bytes)) for v in flat):
            raise RestMappingError(f"input {name!r}: expected strings")
        array = np.array([v.encode() if isinstance(v, str) else v for v in flat],
                         dtype=object).reshape(array.shape)
    if len(array.shape) != len(shape) or any(s is not None and s != a
                                              for s, a in zip(shape, array.shape)):
        raise RestMappingError(f"input {name!r}: shape {array.shape} does not fit the "
                               f"signature's {tuple(-1 if s is None else s for s in shape)}")
    return array


def rest_to_inputs(body: dict, specs: dict[str, tuple]) -> dict[str, np.ndarray]:
    """Map a TF Serving REST predict body onto a signature's inputs, as the server does.

    Row format ``{"instances": [...]}``: one entry per example, an object keyed
    by input name (or a bare value when the signature has one input); entries
    are stacked on a new batch axis. Columnar format ``{"inputs": ...}``: an
    object keyed by input name holding whole batched tensors (or a bare value
    for a single input).

    Raises:
        RestMappingError: naming the input and what does not fit.
    """
    formats = {"instances", "inputs"} & set(body)
    if len(formats) != 1:
        raise RestMappingError("body needs exactly one of 'instances' (row format) or "
                               f"'inputs' (columnar format); got keys {sorted(body)}")
    names = sorted(specs)
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise RestMappingError("'instances' must be a non-empty list")
        if len(names) == 1 and not (isinstance(instances[0], dict) and names[0] in instances[0]):
            columns = {names[0]: instances}
        else:
            columns = {}
            for row, instance in enumerate(instances):
                if not isinstance(instance, dict) or set(instance) != set(names):
                    got = sorted(instance) if isinstance(instance, dict) else type(instance).__name__
                    raise RestMappingError(f"instance {row}: keys {got}, the signature takes {names}")
                for name in names:
                    columns.setdefault(name, []).append(instance[name])
        for name, spec in specs.items():
            if not spec[1]:
                raise RestMappingError(f"input {name!r} is a scalar: row format needs a batch "
                                       "dimension on every input")
        return {name: _as_tensor(name, columns[name], specs[name]) for name in names}
    inputs = body["inputs"]
    if not isinstance(inputs, dict) or set(inputs) - set(names):
        if len(names) == 1:
            inputs = {names[0]: inputs}
        else:
            raise RestMappingError(f"'inputs' must be an object keyed by {names}")
    missing = sorted(set(names) - set(inputs))
    if missing:
        raise RestMappingError(f"'inputs' lacks {missing}")
    return {name: _as_tensor(name, inputs[name], specs[name]) for name in names}


def _jsonable(value: np.ndarray):
    if value.dtype == object or value.dtype.kind in "SU":
        return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else str(v),
                            otypes=[object])(value).tolist() if value.size else value.tolist()
    return value.tolist()


def rest_bodies(inputs: dict[str, np.ndarray]) -> dict[str, dict]:
    """The same request as TF Serving row and columnar JSON bodies (through ``json``)."""
    batch = len(next(iter(inputs.values())))
    columns = {name: _jsonable(np.asarray(value)) for name, value in inputs.items()}
    instances = [{name: column[b] for name, column in columns.items()} for b in range(batch)]
    return {"instances": json.loads(json.dumps({"instances": instances})),
            "inputs": json.loads(json.dumps({"inputs": columns}))}


# ----------------------------------------------------------------- checker
class Checker:
    """Collects ``OK``/``FAIL`` lines; ``failures`` counts the FAILs."""

    def __init__(self, tolerance: float, out=sys.stdout):
        self.tolerance = tolerance
        self.failures = 0
        self.checks = 0
        self.out = out

    def record(self, ok: bool, what: str, detail: str = "") -> bool:
        self.checks += 1
        if not ok:
            self.failures += 1
        print(f"{'OK  ' if ok else 'FAIL'} {what}{': ' + detail if detail else ''}", file=self.out,
              flush=True)
        return ok

    def close(self, what: str, got, expected) -> bool:
        got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
        if got.shape != expected.shape:
            return self.record(False, what, f"shape {got.shape} != expected {expected.shape}")
        diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
        return self.record(diff <= self.tolerance, what, f"max abs diff {diff:.2e} "
                           f"(tolerance {self.tolerance:.0e})")

    def run(self, what: str, fn: Callable[[], object]):
        try:
            return fn()
        except Exception as error:  # a check that crashes is a failed check, not a crash
            self.record(False, what, f"{type(error).__name__}: {error}")
            return None


def _strings(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(str).astype(object)


def _call(signature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import tensorflow as tf

    specs = signature.structured_input_signature[1]
    tensors = {name: tf.constant(np.asarray(value).astype(str) if specs[name].dtype == tf.string
                                 else value, specs[name].dtype)
               for name, value in inputs.items()}
    return {name: value.numpy() for name, value in signature(**tensors).items()}


def _repeat(inputs: dict[str, np.ndarray], batch: int) -> tuple[dict, np.ndarray]:
    rows = np.arange(batch) % len(next(iter(inputs.values())))
    return {name: np.asarray(value)[rows] for name, value in inputs.items()}, rows


def ranking_references(samples: dict) -> dict[str, np.ndarray]:
    """``{ranking output: training-time values}``: ``probability``, and ``logit`` where the
    exporter recorded it (exact logits; exports before the output have none)."""
    from serving.export import modules

    references = {modules.PROBABILITY: samples["ranking/probability"]}
    if "ranking/logit" in samples:
        references[modules.LOGIT] = samples["ranking/logit"]
    return references


def check_candidates(check: "Checker", ranking, rows: dict[str, np.ndarray],
                     references: dict[str, np.ndarray]) -> None:
    """The ``candidates`` signature against the training-time scores and against ``serving_default``.

    With every sample row its own request the scores (each output of
    ``references``) must equal the reference; with the rows regrouped into two
    requests they must equal ``serving_default`` on the same rows expanded per candidate.
    """
    from serving.export import modules

    own = {**rows, modules.OWNER: np.arange(len(references[modules.PROBABILITY]), dtype=np.int64)}
    got = check.run("ranking/candidates: call", lambda: _call(ranking.signatures[modules.CANDIDATES], own))
    if got is not None:
        for output, reference in references.items():
            check.close(f"ranking/candidates: {output} vs training-time model", got[output], reference)
    grouped = candidate_inputs(rows, 2)
    owner = grouped.pop(modules.OWNER)
    expanded = check.run("ranking: serving_default on expanded rows", lambda: _call(
        ranking.signatures[modules.SERVING_DEFAULT], expand_candidates(grouped, owner)))
    got = check.run("ranking/candidates: two requests", lambda: _call(
        ranking.signatures[modules.CANDIDATES], {**grouped, modules.OWNER: owner}))
    if got is not None and expanded is not None:
        for output in references:
            check.close(f"ranking/candidates: {output} vs serving_default per candidate", got[output],
                        expanded[output])


def check_logit_is_log_odds(check: "Checker", what: str, got: dict[str, np.ndarray]) -> None:
    """``sigmoid(logit)`` equals the signature's own ``probability`` (when it has a ``logit``)."""
    from serving.export import modules

    if modules.LOGIT in got:
        logit = np.asarray(got[modules.LOGIT], np.float64)
        check.close(f"{what}: sigmoid(logit) vs probability", 1.0 / (1.0 + np.exp(-logit)),
                    got[modules.PROBABILITY])


def check_recall(check: Checker, root: Path, version: int, manifest: dict, loaded: dict,
                 samples: dict) -> dict[str, float]:
    """Both :mod:`serving.export.recall` measures on the held-out histories the exporter measured
    them on, through the exported query model; returns ``{measure: recall}``."""
    from serving.export import modules, recall
    from retrieval.index import ScannIndex, measure_recall

    scann = manifest["scann"]
    min_recall = scann["min_recall"]
    k = min(scann["recall_k"], manifest["catalog"]["items"])
    key = recall.HISTORY_SAMPLE if recall.HISTORY_SAMPLE in samples else f"query/{schema.HISTORY}"
    histories = _strings(samples[key])  # exports before the held-out sample: the sample histories
    what = f"on {len(histories)} held-out histories"
    default, measured = modules.SERVING_DEFAULT, {}
    inputs = {schema.HISTORY: histories, modules.K: np.full(len(histories), k, np.int32)}
    if {contract.RETRIEVAL, contract.RETRIEVAL_SCANN} <= set(loaded):
        found = check.run("retrieval_scann: call", lambda: _call(
            loaded[contract.RETRIEVAL_SCANN].signatures[default], inputs))
        per_call = recall.histories_per_call(manifest["catalog"]["items"], manifest["catalog"]["interests"])
        exact = check.run("retrieval: call", lambda: recall.call_in_blocks(
            lambda block: _call(loaded[contract.RETRIEVAL].signatures[default], block), inputs, per_call))
        if found is not None and exact is not None:
            overlap = measured[recall.LAYER] = recall.top_k_overlap(
                found[modules.ITEM_IDS], exact[modules.ITEM_IDS])
            check.record(overlap >= min_recall, f"retrieval_scann: top-{k} overlap with brute force {what}",
                         f"{overlap:.4f} (bar {min_recall}, export {scann.get('also', {}).get(recall.LAYER)})")
            lookup = [dict(zip(_strings(e), s)) for e, s in zip(exact[modules.ITEM_IDS], exact[modules.SCORES])]
            shared = [(score, lookup[b][item]) for b, row in enumerate(_strings(found[modules.ITEM_IDS]))
                      for item, score in zip(row, found[modules.SCORES][b]) if item in lookup[b]]
            if shared:
                check.close("retrieval_scann: scores of shared items", [s for s, _ in shared],
                            [e for _, e in shared])
    index = check.run("scann: load native index", lambda: ScannIndex.load(root / contract.SCANN / str(version)))
    if index is not None and contract.QUERY in loaded:
        users = check.run("query: held-out histories", lambda: _call(
            loaded[contract.QUERY].signatures[default], {schema.HISTORY: histories})[modules.EMBEDDINGS])
        if users is not None:
            value = measured[recall.INDEX] = measure_recall(index.search, index.item_embeddings, users, k)
            check.record(value >= min_recall, f"scann: recall@{k} {what} x {users.shape[1]} interests",
                         f"{value:.4f} (bar {min_recall}, export {scann.get(f'recall_at_{k}')})")
    if index is not None:
        check.record(len(index.item_ids) == manifest["catalog"]["items"], "scann: row -> item id map",
                     f"{len(index.item_ids)} rows")
    return measured


def check_fingerprints(check: Checker, root: Path, version: int, manifest: dict) -> None:
    """The SavedModels and the manifest carry one schema fingerprint, and it is this code's."""
    fingerprints = check.run("schema fingerprints", lambda: contract.model_fingerprints(root, version))
    if fingerprints is None:
        return
    values = set(fingerprints.values()) | {manifest["schema"]["fingerprint"]}
    check.record(len(values) == 1, "models share one schema fingerprint", json.dumps(fingerprints))
    check.record(values == {schema.fingerprint()}, "fingerprint matches this code",
                 f"code {schema.fingerprint()}")


def load_models(check: Checker, root: Path, version: int, out) -> tuple[dict, dict]:
    """Print and load every SavedModel of the version; ``({name: model}, {name: signature defs})``.

    A model whose signatures cannot be read or that does not load is a failed
    check and is left out of both dicts (and of every later check).
    """
    import tensorflow as tf

    from scann import scann_ops  # noqa: F401  registers the ScaNN ops retrieval_scann's graph holds

    loaded, signatures = {}, {}
    for name in contract.SAVEDMODELS:
        folder = root / name / str(version)
        definitions = check.run(f"{name}: read signatures", lambda: read_signatures(folder))
        if definitions is None:
            continue
        print(f"\n== {name} ({folder})" + format_signatures(definitions), file=out)
        unnamed = [f"{s}:{o}" for s, d in definitions.items() for o in d.outputs
                   if o.startswith("output_")]
        check.record(not unnamed, f"{name}: outputs are named", ", ".join(unnamed))
        model = check.run(f"{name}: load", lambda: tf.saved_model.load(str(folder)))
        if model is not None:
            loaded[name] = model
            signatures[name] = definitions
    return loaded, signatures


def sample_inputs(samples: dict) -> dict[str, dict[str, np.ndarray]]:
    """``{model: serving_default inputs}`` from the exporter's ``reference.npz``."""
    from serving.export import modules

    query = {schema.HISTORY: _strings(samples[f"query/{schema.HISTORY}"])}
    k = int(samples["retrieval/k"])
    retrieval = {**query, modules.K: np.full(len(query[schema.HISTORY]), k, np.int32)}
    ranking = {}
    for key, value in samples.items():
        if key.startswith("ranking/input/"):
            ranking[key[len("ranking/input/"):]] = value if value.dtype.kind == "f" else _strings(value)
    return {contract.QUERY: query,
            contract.CANDIDATE: {modules.ITEM_IDS: _strings(samples[f"candidate/{modules.ITEM_IDS}"])},
            contract.RETRIEVAL: retrieval, contract.RETRIEVAL_SCANN: retrieval, contract.RANKING: ranking}


def context_int64_inputs(ranking_inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ranking inputs with context features as int64 (the ``context_int64`` signature)."""
    context = {f.name for f in schema.RANKING_FEATURES if f.source is schema.Source.CONTEXT}
    return {n: (np.array([int(v) for v in value], np.int64) if n in context else value)
            for n, value in ranking_inputs.items()}


def check_reference_outputs(check: Checker, loaded: dict, inputs: dict, samples: dict) -> None:
    """Each model's serving signatures give the training-time model's outputs on the samples."""
    from serving.export import modules

    default = modules.SERVING_DEFAULT

    def compare(name, output, reference_key):
        got = check.run(f"{name}: call", lambda: _call(loaded[name].signatures[default], inputs[name]))
        if got is not None:
            check.close(f"{name}: {output} vs training-time model", got[output], samples[reference_key])
        return got

    if contract.QUERY in loaded:
        compare(contract.QUERY, modules.EMBEDDINGS, "query/embeddings")
    if contract.CANDIDATE in loaded:
        compare(contract.CANDIDATE, modules.EMBEDDINGS, "candidate/embeddings")
    if contract.RANKING in loaded:
        ranking = loaded[contract.RANKING]
        references = ranking_references(samples)
        got = compare(contract.RANKING, modules.PROBABILITY, "ranking/probability")
        if got is not None:
            check_logit_is_log_odds(check, contract.RANKING, got)
            if modules.LOGIT in references:
                check.close(f"{contract.RANKING}: {modules.LOGIT} vs training-time model", got[modules.LOGIT],
                            references[modules.LOGIT])
        got = check.run("ranking: context_int64 call", lambda: _call(
            ranking.signatures[modules.CONTEXT_INT64], context_int64_inputs(inputs[contract.RANKING])))
        if got is not None:
            for output, reference in references.items():
                check.close(f"ranking: context_int64 {output} vs training-time model", got[output], reference)
        if modules.CANDIDATES in ranking.signatures:
            check_candidates(check, ranking, inputs[contract.RANKING], references)
    if contract.RETRIEVAL in loaded:
        got = compare(contract.RETRIEVAL, modules.SCORES, "retrieval/scores")
        if got is not None:
            same = _strings(got[modules.ITEM_IDS]) == _strings(samples["retrieval/item_ids"])
            check.record(bool(same.all()), "retrieval: item_ids equal the training-time top-k",
                         f"{int(same.sum())}/{same.size}")


def check_batches(check: Checker, loaded: dict, inputs: dict, samples: dict) -> None:
    """The query and ranking models answer batches of 1 and ``LARGE_BATCH`` as the samples they repeat."""
    from serving.export import modules

    references = {contract.QUERY: {modules.EMBEDDINGS: samples.get("query/embeddings")}}
    if contract.RANKING in loaded:
        references[contract.RANKING] = ranking_references(samples)
    for name, outputs in references.items():
        if name not in loaded:
            continue
        fn = loaded[name].signatures[modules.SERVING_DEFAULT]
        for batch in (1, LARGE_BATCH):
            repeated, rows = _repeat(inputs[name], batch)
            got = check.run(f"{name}: batch {batch}", lambda: _call(fn, repeated))
            if got is not None:
                for output, reference in outputs.items():
                    suffix = f" {output}" if len(outputs) > 1 else ""
                    check.close(f"{name}: batch {batch}{suffix}", got[output], reference[rows])


def _signature_inputs(name: str, signature_name: str, inputs: dict) -> dict | None:
    """Sample inputs of one signature; None when the samples cannot feed it."""
    from serving.export import modules

    if signature_name == modules.CONTEXT_INT64:
        return context_int64_inputs(inputs[name])
    if signature_name == modules.CANDIDATES:
        return candidate_inputs(inputs[name], 2)
    if signature_name == modules.HISTORY_INT64:
        history = inputs[contract.QUERY][schema.HISTORY]
        if not all(v == "" or str(v).isdigit() for v in history.reshape(-1)):
            return None
        return {schema.HISTORY: np.vectorize(lambda v: int(v) if v else -1, otypes=[np.int64])(history)}
    return inputs[name]


def check_signatures(check: Checker, loaded: dict, signatures: dict, inputs: dict, samples: dict,
                     out) -> None:
    """Every signature answers its sample inputs, and both TF Serving REST body formats
    map onto it and answer as a direct call does."""
    from serving.export import modules

    for name, model in loaded.items():
        for signature_name, definition in signatures[name].items():
            if signature_name.startswith("__"):
                continue
            fn = model.signatures[signature_name]
            feed = _signature_inputs(name, signature_name, inputs)
            if feed is None:
                print(f"skip {name}/{signature_name}: the catalog's raw ids are not integers", file=out)
                continue
            if signature_name == modules.HISTORY_INT64:
                got = check.run(f"{name}/{signature_name}: call", lambda: _call(fn, feed))
                if got is not None:
                    check.close(f"{name}/{signature_name} vs training-time model",
                                got[modules.EMBEDDINGS], samples["query/embeddings"])
            direct = check.run(f"{name}/{signature_name}: direct call", lambda: _call(fn, feed))
            check_rest_bodies(check, f"{name}/{signature_name}", fn, input_specs(definition), feed, direct,
                              columnar_only=signature_name == modules.CANDIDATES)


def check_rest_bodies(check: Checker, what: str, fn, specs: dict, inputs: dict, direct: dict | None,
                      columnar_only: bool = False) -> None:
    """Row (``instances``) and columnar (``inputs``) REST bodies of ``inputs`` give ``direct``'s outputs.

    ``columnar_only``: the signature's inputs differ in length (request and
    candidate rows), which the row format cannot express.
    """
    for body_format, body in rest_bodies(inputs).items():
        if columnar_only and body_format == "instances":
            continue
        label = f"{what}: REST {{\"{body_format}\": ...}}"
        mapped = check.run(label, lambda: rest_to_inputs(body, specs))
        if mapped is None or direct is None:
            continue
        got = check.run(label, lambda: _call(fn, mapped))
        if got is None:
            continue
        same = all(np.array_equal(got[o], direct[o]) if got[o].dtype == object
                   else np.allclose(got[o], direct[o], atol=check.tolerance, rtol=0)
                   for o in direct)
        check.record(same, label, "maps onto the signature and answers as a direct call")


def check_warmup(check: Checker, root: Path, version: int, loaded: dict) -> None:
    """Every model's warm-up requests (``assets.extra``) parse, name it and run."""
    from serving.export import warmup

    for name, model in loaded.items():
        requests = check.run(f"{name}: parse warm-up requests", lambda: warmup.read(root / name / str(version)))
        if requests is None:
            continue
        ok = bool(requests)
        for model_name, signature_name, request in requests:
            ok &= model_name == name and signature_name in model.signatures
            if ok:
                ok &= check.run(f"{name}: run warm-up {signature_name}",
                                lambda: _call(model.signatures[signature_name], request)) is not None
        check.record(ok, f"{name}: {len(requests)} warm-up requests parse and run")


def verify_export(export_dir: str | Path, version: int | None = None,
                  tolerance: float = DEFAULT_TOLERANCE, out=sys.stdout, report: dict | None = None) -> int:
    """Run every check on one version; returns the number of failures.

    ``report``, when given, receives ``failures``, ``checks``, ``recall_k`` and
    ``recall`` (each :mod:`serving.export.recall` measure): what the exporter writes
    into the manifest.
    """
    root = Path(export_dir)
    check = Checker(tolerance, out)
    version = contract.resolve_version(root, version)
    manifest = contract.read_manifest(root, version)
    print(f"export {root} version {version}", file=out)
    check_fingerprints(check, root, version, manifest)
    samples = dict(np.load(root / contract.SAMPLES / str(version) / contract.SAMPLES_FILE))
    loaded, signatures = load_models(check, root, version, out)
    inputs = sample_inputs(samples)
    check_reference_outputs(check, loaded, inputs, samples)
    measured = check_recall(check, root, version, manifest, loaded, samples)
    check_batches(check, loaded, inputs, samples)
    check_signatures(check, loaded, signatures, inputs, samples, out)
    check_warmup(check, root, version, loaded)
    print(f"\n{check.failures} failed check(s)", file=out)
    if report is not None:
        report.update(failures=check.failures, checks=check.checks, recall=measured,
                      recall_k=min(manifest["scann"]["recall_k"], manifest["catalog"]["items"]))
    return check.failures


def verify_in_subprocess(export_dir: str | Path, version: int | None = None,
                         tolerance: float = DEFAULT_TOLERANCE,
                         report: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run :func:`verify_export` under ``python -m serving.export.verify`` (a fresh process);
    ``report``: a JSON file to receive what it measured."""
    command = [sys.executable, "-m", "serving.export.verify", str(export_dir),
               "--tolerance", str(tolerance)]
    if version is not None:
        command += ["--version", str(version)]
    if report is not None:
        command += ["--report", str(report)]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.export.verify", description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--version", type=int, default=None)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
    parser.add_argument("--report", default=None, help="write what was measured to this JSON file")
    args = parser.parse_args(argv)
    report: dict = {}
    try:
        failures = verify_export(args.export_dir, args.version, args.tolerance, report=report)
    except (FileNotFoundError, ValueError, KeyError) as error:  # unreadable: a user error
        print(error, file=sys.stderr)  # the message names the export folder
        return 2
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
