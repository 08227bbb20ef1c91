"""Guards serving/export/modules.py: saving an export module traces nothing again.

``RankingModel.serve`` takes keyword inputs and so has no ``input_signature``;
kept as a ``tf.function`` attribute, ``tf.saved_model.save`` traced it again
for every signature (most of a tiny export's time). A Keras model that counts
The module's own ``encode`` runs once per trace of a signature, so counting
its Python calls shows whether saving traced them again. A Keras model the
module tracked would also be traced again, layer by layer, for Keras' own
loading metadata: the model counts its calls to show it is not.
"""

import tensorflow as tf

from funnel import schema
from serving.contract import OWNER
from serving.export import modules


class CountingRanker(tf.keras.Model):
    """Probability from the item id and the candidate features."""

    uses_candidate_features = True

    def __init__(self):
        super().__init__()
        self.weight_ = tf.Variable(0.1, name="w")
        self.calls = 0

    def score(self, features):
        self.calls += 1
        score = tf.cast(features[schema.ITEM_ID], tf.float32) * self.weight_
        for name in schema.CANDIDATE_FEATURES:
            score += features[name]
        return score

    def call(self, features, training=False):
        return tf.sigmoid(self.score(features))


class CountingListRanker(CountingRanker):
    """The score times 10 as the logit of a ranker of candidate lists, which exposes it."""

    def row_logits(self, rows, training=False):
        return 10.0 * self.score(rows), {}

    def call(self, rows, training=False):
        return tf.sigmoid(self.row_logits(rows, training=training)[0])


def ranking_module(tmp_path, model=None):
    vocabularies = {}
    for name in schema.CATEGORICAL_VOCABULARIES:
        path = tmp_path / f"{name}.txt"
        path.write_text("a\nb\n")
        vocabularies[name] = str(path)
    schema_file = tmp_path / "schema.json"
    schema_file.write_text("{}")
    return modules.RankingModel(model or CountingRanker(), vocabularies, str(schema_file))


def test_saving_does_not_trace_the_keras_model_again(tmp_path):
    module = ranking_module(tmp_path)
    signatures = module.signatures()
    model = module.model.model
    traced = model.calls
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures=signatures)
    assert model.calls == traced > 0


def test_saving_does_not_trace_the_ranking_signatures_again(tmp_path, monkeypatch):
    module = ranking_module(tmp_path)
    encodes = []
    encode = module.encode
    monkeypatch.setattr(module, "encode", lambda *args, **kwargs: encodes.append(1) or encode(*args, **kwargs))
    signatures = module.signatures()
    traced = len(encodes)
    assert len(signatures) == 3 and traced > 0
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures=signatures)
    assert len(encodes) == traced


def _raw_rows() -> dict:
    raw = {}
    for name, spec in modules.ranking_input_specs(candidate_features=True).items():
        if spec.shape.rank == 2:
            raw[name] = tf.constant([["a", "b"], ["b", ""]])
        elif spec.dtype == tf.string:
            raw[name] = tf.constant(["a", "zzz"])
        else:
            raw[name] = tf.constant([0.5, 2.0], spec.dtype)
    return raw


def test_saved_ranking_signatures_score_like_the_module(tmp_path):
    module = ranking_module(tmp_path)
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures=module.signatures())
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    raw = _raw_rows()
    expected = module.serve(**raw)
    got = loaded.signatures[modules.SERVING_DEFAULT](**raw)
    tf.debugging.assert_near(got[modules.PROBABILITY], expected[modules.PROBABILITY])
    p = tf.cast(got[modules.PROBABILITY], tf.float64)  # a pointwise logit: the probability's log-odds
    tf.debugging.assert_near(tf.cast(got[modules.LOGIT], tf.float64), tf.math.log(p / (1.0 - p)), rtol=1e-5)


def test_a_list_rankers_signatures_carry_its_exact_logits_past_float32_saturation(tmp_path):
    """Logits above 20 (candidate features 0.5 and 2): both probabilities round to 1.0 in
    float32, the ``logit`` outputs keep them, in both signatures."""
    module = ranking_module(tmp_path, CountingListRanker())
    tf.saved_model.save(module, str(tmp_path / "saved"), signatures=module.signatures())
    loaded = tf.saved_model.load(str(tmp_path / "saved"))
    raw = _raw_rows()
    rows = loaded.signatures[modules.SERVING_DEFAULT](**raw)
    candidates = loaded.signatures[modules.CANDIDATES](**{
        **raw, OWNER: tf.constant([0, 1], tf.int64)})
    ids = module.encode(raw)[schema.ITEM_ID]
    expected = 10.0 * (0.1 * tf.cast(ids, tf.float32) + len(schema.CANDIDATE_FEATURES) * tf.constant([0.5, 2.0]))
    for got in (rows, candidates):
        assert got[modules.PROBABILITY].numpy().tolist() == [1.0, 1.0]
        tf.debugging.assert_near(got[modules.LOGIT], expected, rtol=1e-6)
    assert float(rows[modules.LOGIT][0]) > 20.0
