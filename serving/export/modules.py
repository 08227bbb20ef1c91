"""The exported models as ``tf.Module`` s with named serving signatures.

Each module wraps a trained Keras model with the raw-input rules of
:mod:`serving.export.raw_inputs` and carries its vocabularies and ``schema.json``
(the contract and its fingerprint) as SavedModel assets, so a loaded export
needs nothing else. Signature inputs and outputs have names, never
``output_1``:

==================  ==========================================  =============================
model               inputs                                      outputs
==================  ==========================================  =============================
query               ``history`` string [B, T] ("" = empty)      ``embeddings`` [B, M, D]
query/history_int64 ``history`` int64 [B, T] (negative = empty) ``embeddings`` [B, M, D]
candidate           ``item_ids`` string [N]                     ``embeddings`` [N, D]
retrieval(_scann)   ``history`` string [B, T], ``k`` int32 [B]  ``item_ids`` [B, k], ``scores``
ranking             every ``schema.RANKING_FEATURES`` raw [B]   ``probability``, ``logit`` [B]
                    (+ ``schema.CANDIDATE_FEATURES`` float32
                    [B] for a ranker of candidate lists)
ranking/candidates  request features [B], item features [N],    ``probability``, ``logit`` [N]
                    ``owner`` int64 [N]
==================  ==========================================  =============================

``logit`` is float32 and exact for a ranker of candidate lists
(``ranking.listwise.CandidateRanker.row_logits``; ``probability`` is its
sigmoid), so logits far past where a float32 sigmoid rounds to 1 (about 17)
stay distinct; for a pointwise model, whose heads are probabilities, it is the
log-odds of ``probability`` (see :func:`ranking_outputs`).

``k`` is per row so TF Serving's row format (``{"instances": [...]}``) maps
onto the top-K signatures; all rows of one request must ask for the same k.
Retrieval scores are eq. 4 of the IDW paper (or the max over interests, as
the run was trained), via ``retrieval.model``.

Signatures are traced with ``autograph=False``: the models' code has no
tensor-dependent Python control flow, and AutoGraph's conversion of every
Keras layer call made tracing the ranking signatures most of an export's time
(docs/benchmarks.md, "Export").
"""

from __future__ import annotations

import functools
import types
from typing import Mapping

import tensorflow as tf
import tensorflow_recommenders as tfrs

from funnel import schema
from ranking.embedding import HISTORY_OWNER
from retrieval.index import ScannParams
from retrieval.model import SCORE_REDUCTIONS, interest_scores
from serving import contract
from serving.contract import (CANDIDATES, CONTEXT_INT64, EMBEDDINGS, HISTORY_INT64, ITEM_IDS, K, LOGIT, OWNER,
                              PROBABILITY, SCORES, SERVING_DEFAULT)
from serving.export import raw_inputs
from serving.ranking_rows import ITEM_FEATURES, REQUEST_FEATURES

NUMERIC_DTYPE = tf.as_dtype(contract.NUMERIC_DTYPE)
"""Raw numbers arrive as float64 so bucket edges match ``schema.log_square_bucket``."""


def _history_spec(dtype=tf.string) -> tf.TensorSpec:
    return tf.TensorSpec([None, None], dtype, name=schema.HISTORY)


def _k_spec() -> tf.TensorSpec:
    return tf.TensorSpec([None], tf.int32, name=K)


class _WithSchema(tf.Module):
    """A module that carries ``schema.json`` as an asset."""

    def __init__(self, schema_file: str, name: str):
        super().__init__(name=name)
        self.schema_asset = tf.saved_model.Asset(schema_file)

    def untracked(self, model) -> "UntrackedKeras":
        """``model`` callable from the signatures, with only its variables in the object graph."""
        self.keras_variables = [*getattr(self, "keras_variables", ()), *model.variables]
        return UntrackedKeras(model)


class UntrackedKeras:
    """Calls a Keras model that the SavedModel's object graph does not hold.

    ``tf.saved_model.save`` of a module that tracks a Keras model also traces
    every layer again for Keras' own loading metadata, which TF Serving and
    this project never read (most of the time of saving a LAFAM). The owning
    module tracks only the model's variables (:meth:`_WithSchema.untracked`),
    which its signatures capture.
    """

    def __init__(self, model):
        self.model = model

    def __call__(self, *args, **kwargs):
        return self.model(*args, **kwargs)


class QueryModel(_WithSchema):
    """Item-id history -> the M interest embeddings of the user tower."""

    def __init__(self, user_tower, item_vocabulary: str, schema_file: str):
        super().__init__(schema_file, name="query")
        self.user_tower = self.untracked(user_tower)
        self.items = raw_inputs.Vocabulary(item_vocabulary, "item_vocabulary")

    def embed(self, history: tf.Tensor) -> tf.Tensor:
        """Raw string history [B, T] -> [B, M, D] float32."""
        return self.user_tower(raw_inputs.history_ids(self.items, history), training=False)

    @tf.function(input_signature=[_history_spec()], autograph=False)
    def serve(self, history):
        return {EMBEDDINGS: self.embed(history)}

    @tf.function(input_signature=[_history_spec(tf.int64)], autograph=False)
    def serve_int64(self, history):
        return {EMBEDDINGS: self.embed(raw_inputs.int_history_as_strings(history))}

    def signatures(self) -> dict:
        return {SERVING_DEFAULT: self.serve.get_concrete_function(),
                HISTORY_INT64: self.serve_int64.get_concrete_function()}


class CandidateModel(_WithSchema):
    """Raw item ids -> item embeddings of the item tower."""

    def __init__(self, item_tower, item_vocabulary: str, schema_file: str):
        super().__init__(schema_file, name="candidate")
        self.item_tower = self.untracked(item_tower)
        self.items = raw_inputs.Vocabulary(item_vocabulary, "item_vocabulary")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=ITEM_IDS)], autograph=False)
    def serve(self, item_ids):
        return {EMBEDDINGS: self.item_tower(self.items.ids(item_ids), training=False)}

    def signatures(self) -> dict:
        return {SERVING_DEFAULT: self.serve.get_concrete_function()}


def requested_k(k: tf.Tensor, num_items: int) -> tf.Tensor:
    """The one k of a request (``k`` [B], equal in every row), capped at the catalog size."""
    first = k[0]
    check = tf.debugging.assert_equal(k, first, message="k must be the same for every instance")
    positive = tf.debugging.assert_positive(first, message="k must be >= 1")
    with tf.control_dependencies([check, positive]):
        return tf.minimum(first, num_items)


def merge_candidates(user_embeddings: tf.Tensor, rows: tf.Tensor, item_embeddings: tf.Tensor,
                     k, scoring: str) -> tuple[tf.Tensor, tf.Tensor]:
    """Best ``k`` of each user's candidate rows by the exact multi-interest score.

    Per-interest searches return overlapping candidates; each is rescored by
    eq. 4 (``SCORE_REDUCTIONS[scoring]`` of the M dot products), repeats are
    dropped and the top ``k`` kept. The graph twin of the service's and the
    candidates job's numpy merge, :func:`retrieval.candidates.retrieve` (tested to agree).

    Args:
        user_embeddings: ``[B, M, D]``.
        rows: candidate item rows ``[B, C]`` (C >= k unique per user).
        item_embeddings: ``[N, D]``.
        k: scalar int.
        scoring: a key of ``retrieval.model.SCORE_REDUCTIONS``.

    Returns:
        rows ``[B, k]`` and scores ``[B, k]``, best first.
    """
    rows = tf.cast(rows, tf.int64)
    candidates = tf.gather(item_embeddings, rows)                       # [B, C, D]
    per_interest = tf.einsum("bmd,bcd->bmc", tf.cast(user_embeddings, tf.float32), candidates)
    scores = SCORE_REDUCTIONS[scoring](per_interest)                   # [B, C]
    order = tf.argsort(rows, axis=1, stable=True)
    sorted_rows = tf.gather(rows, order, batch_dims=1)
    repeat_sorted = tf.concat([tf.zeros_like(sorted_rows[:, :1], tf.bool),
                               tf.equal(sorted_rows[:, 1:], sorted_rows[:, :-1])], axis=1)
    repeat = tf.gather(repeat_sorted, tf.argsort(order, axis=1), batch_dims=1)
    scores = tf.where(repeat, tf.fill(tf.shape(scores), float("-inf")), scores)
    top, position = tf.math.top_k(scores, k=k)
    return tf.gather(rows, position, batch_dims=1), top


class _CatalogRetrieval(_WithSchema):
    """History -> top-k item ids and scores over the catalog the export was built with."""

    def __init__(self, query: QueryModel, item_embeddings, item_ids, scoring: str,
                 schema_file: str, name: str):
        super().__init__(schema_file, name=name)
        self.query = query
        self.scoring = scoring
        self.num_items = int(item_embeddings.shape[0])
        self.item_embeddings = tf.Variable(item_embeddings, dtype=tf.float32, trainable=False,
                                           name="item_embeddings")
        self.item_ids = tf.Variable(item_ids, dtype=tf.string, trainable=False, name="item_ids")

    def signatures(self) -> dict:
        return {SERVING_DEFAULT: self.serve.get_concrete_function()}


class BruteForceRetrieval(_CatalogRetrieval):
    """History -> exact top-k items over the whole catalog.

    Every item is scored by ``retrieval.model.interest_scores`` (eq. 4, or the
    max over interests, as the run was trained), the function training uses, so
    this is the reference ``retrieval_scann`` and verify are measured against.
    Per-interest searches, as in :class:`ScannRetrieval`, would not be exact for
    eq. 4: an item can beat each interest's top k in the mixture without being in any.
    """

    def __init__(self, query: QueryModel, item_embeddings, item_ids, scoring: str,
                 schema_file: str):
        super().__init__(query, item_embeddings, item_ids, scoring, schema_file, name="retrieval")

    @tf.function(input_signature=[_history_spec(), _k_spec()], autograph=False)
    def serve(self, history, k):
        scores = interest_scores(self.query.embed(history), self.item_embeddings, self.scoring)  # [B, N]
        top, rows = tf.math.top_k(scores, k=requested_k(k, self.num_items))
        return {ITEM_IDS: tf.gather(self.item_ids, rows), SCORES: top}


class ScannRetrieval(_CatalogRetrieval):
    """History -> approximate top-k: the public ``tfrs`` ScaNN layer searched once per
    interest (the ``[B * M, D]`` queries in one call), then :func:`merge_candidates`.

    Needs TF Serving built with ScaNN's custom ops; saved with the ``Scann``
    namespace allowed.
    """

    def __init__(self, query: QueryModel, item_embeddings, item_ids, scoring: str,
                 params: ScannParams, schema_file: str):
        super().__init__(query, item_embeddings, item_ids, scoring, schema_file, name="retrieval_scann")
        self.layer = tfrs.layers.factorized_top_k.ScaNN(
            k=10, distance_measure="dot_product", num_leaves=params.num_leaves,
            num_leaves_to_search=params.num_leaves_to_search,
            dimensions_per_block=params.dimensions_per_block,
            num_reordering_candidates=params.reordering_candidates)
        self.layer.index(tf.constant(item_embeddings, tf.float32))

    @tf.function(input_signature=[_history_spec(), _k_spec()], autograph=False)
    def serve(self, history, k):
        k = requested_k(k, self.num_items)
        users = self.query.embed(history)                                   # [B, M, D]
        shape = tf.shape(users)
        _, rows = self.layer(tf.reshape(users, [-1, shape[2]]), k=k)        # [B*M, k]
        rows = tf.reshape(rows, [shape[0], -1])                             # [B, M*k]
        rows, scores = merge_candidates(users, rows, self.item_embeddings, k, self.scoring)
        return {ITEM_IDS: tf.gather(self.item_ids, rows), SCORES: scores}


def _spec(name: str, spec: contract.Input) -> tf.TensorSpec:
    return tf.TensorSpec([None] * spec.rank, spec.dtype, name=name)


@functools.cache
def ranking_input_specs(int_context: bool = False, candidate_features: bool = False) -> Mapping[str, tf.TensorSpec]:
    """:func:`serving.contract.ranking_inputs` as ``tf.TensorSpec`` s (read-only, cached)."""
    return types.MappingProxyType({name: _spec(name, spec) for name, spec
                                   in contract.ranking_inputs(int_context, candidate_features).items()})


@functools.cache
def candidates_input_specs(candidate_features: bool = False) -> Mapping[str, tf.TensorSpec]:
    """Inputs of the ``candidates`` signature: ``ranking_input_specs`` plus ``owner`` [N]."""
    return types.MappingProxyType({name: _spec(name, spec) for name, spec
                                   in contract.candidates_inputs(candidate_features).items()})


SATURATED_TAIL = 2.0 ** -25
"""``1 - p`` of a float32 probability rounded to 1.0, read as half an ulp below 1 (a logit of about 17.3)."""


def log_odds(probability: tf.Tensor) -> tf.Tensor:
    """``log(p) - log(1 - p)`` of float32 probabilities, in float64 (``1 - p`` is exact there),
    capped at about +-17 where float32 saturates; float32 ``[R]``."""
    p = tf.cast(probability, tf.float64)
    tail = tf.maximum(1.0 - p, SATURATED_TAIL)
    return tf.cast(tf.math.log(tf.maximum(p, 1e-300)) - tf.math.log(tail), tf.float32)


def has_exact_logits(model) -> bool:
    """The model scores rows by a logit it exposes (a ranker of candidate lists)."""
    return callable(getattr(model, "row_logits", None))


def ranking_outputs(model, features: dict) -> dict[str, tf.Tensor]:
    """A trained ranking model on encoded features -> ``{probability, logit}``, float32 ``[R]`` each.

    A ranker of candidate lists gives its logit (``row_logits``) and
    ``probability = sigmoid(logit)``, what its ``call`` computes; a pointwise
    model's heads are probabilities (LAFAM's a mixture of sigmoids), so its
    logit is :func:`log_odds` of the probability. Shared by the signatures
    and the exporter's reference outputs.
    """
    if has_exact_logits(model):
        logit = tf.reshape(tf.cast(model.row_logits(features, training=False)[0], tf.float32), [-1])
        return {PROBABILITY: tf.sigmoid(logit), LOGIT: logit}
    probability = tf.reshape(model(features, training=False), [-1])
    return {PROBABILITY: probability, LOGIT: log_odds(probability)}


class RankingModel(_WithSchema):
    """Raw feature dict -> click probability and logit; lookups and bucketing inside."""

    def __init__(self, model, vocabularies: dict[str, str], schema_file: str):
        super().__init__(schema_file, name="ranking")
        missing = sorted(set(schema.CATEGORICAL_VOCABULARIES) - set(vocabularies))
        if missing:
            raise ValueError(f"ranking export: no vocabulary file for {missing}")
        self.model = self.untracked(model)
        self.candidate_features = bool(getattr(model, "uses_candidate_features", False))
        self.vocabularies = {name: raw_inputs.Vocabulary(vocabularies[name], f"{name}_vocabulary")
                             for name in schema.CATEGORICAL_VOCABULARIES}

    def encode(self, raw: dict, features=schema.RANKING_FEATURES) -> dict:
        """Raw values -> the int64 features of ``schema.ranking_example_spec()`` minus LABEL.

        ``features`` narrows the work to some ``schema.RANKING_FEATURES``;
        ``HISTORY_LENGTH`` comes with ``HISTORY``.
        """
        encoded = {}
        for f in features:
            value = raw[f.name]
            if f.kind is schema.Kind.SEQUENCE:
                encoded[f.name] = raw_inputs.history_ids(self.vocabularies[schema.ITEM_ID], value)
                encoded[schema.HISTORY_LENGTH] = raw_inputs.history_length(encoded[f.name])
            elif f.kind is schema.Kind.NUMERIC:
                encoded[f.name] = raw_inputs.log_square_bucket(value)
            else:
                if value.dtype != tf.string:
                    value = tf.strings.as_string(value)
                encoded[f.name] = self.vocabularies[f.name].ids(value)
        return encoded

    def candidate_values(self, raw: dict) -> dict:
        """The ``schema.CANDIDATE_FEATURES`` inputs as float32, when the model reads them."""
        if not self.candidate_features:
            return {}
        return {name: tf.cast(raw[name], tf.float32) for name in schema.CANDIDATE_FEATURES}

    def serve(self, **raw):
        return ranking_outputs(self.model.model, {**self.encode(raw), **self.candidate_values(raw)})

    def serve_candidates(self, **raw):
        """Every candidate of B requests in one call, each request's features encoded once.

        ``REQUEST_FEATURES`` come one row per request ``[B]`` (history
        ``[B, T]``), ``ITEM_FEATURES`` one row per candidate ``[N]``, and
        ``owner [N]`` names each candidate's request. Scores equal
        ``serving_default`` on the rows expanded per candidate, without
        looking up B * T history strings N / B times over; the model gets the
        history once per request with ``HISTORY_OWNER``, so its lookups and
        pooling also run once per request.
        """
        owner = raw[OWNER]
        per_request = self.encode(raw, REQUEST_FEATURES)
        features = {name: tf.gather(value, owner) for name, value in per_request.items()
                    if name != schema.HISTORY}
        features.update({schema.HISTORY: per_request[schema.HISTORY], HISTORY_OWNER: owner})
        features.update(self.encode(raw, ITEM_FEATURES))
        features.update(self.candidate_values(raw))
        return ranking_outputs(self.model.model, features)

    def signatures(self) -> dict:
        """Each signature traced once, from a ``tf.function`` that is not an attribute.

        ``serve`` takes its inputs as keywords, so it cannot carry an
        ``input_signature``; as a ``tf.function`` attribute,
        ``tf.saved_model.save`` traced it again for every signature it
        already had (most of a tiny export's save time).
        """
        extra = self.candidate_features
        serve = tf.function(self.serve, autograph=False)
        serve_candidates = tf.function(self.serve_candidates, autograph=False)
        return {SERVING_DEFAULT: serve.get_concrete_function(**ranking_input_specs(candidate_features=extra)),
                CONTEXT_INT64: serve.get_concrete_function(**ranking_input_specs(True, extra)),
                CANDIDATES: serve_candidates.get_concrete_function(**candidates_input_specs(extra))}
