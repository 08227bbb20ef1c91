"""Guards serving/backends/rest.py against the TF Serving REST stand-in: the
columnar request/response format, unnamed single outputs, strings, errors."""

import numpy as np
import pytest

from serving.backends.rest import PredictClient, TFServingError


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    """Two tiny SavedModels in TF Serving's layout: ``query/1`` (one output) and
    ``pair/1`` (two outputs, string in, string out)."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("rest_export")

    class Query(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="history")])
        def serve(self, history):
            length = tf.strings.length(history)
            return {"embeddings": tf.cast(tf.stack([length, 2 * length], axis=-1), tf.float32)}

    class Pair(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="item_ids"),
                                      tf.TensorSpec([None], tf.float64, name="age")])
        def serve(self, item_ids, age):
            return {"echo": tf.strings.upper(item_ids), "double": age * 2.0}

    for name, module in (("query", Query()), ("pair", Pair())):
        tf.saved_model.save(module, str(root / name / "1"),
                            signatures={"serving_default": module.serve.get_concrete_function()})
    return root


@pytest.fixture(scope="module")
def tfserving(export_dir, tfserving_standin, serve):
    standin = tfserving_standin.StandIn(export_dir, ["query", "pair"], labels={"stable": "1"})
    with serve(tfserving_standin.make_app(standin)) as server:
        yield standin, server.url


def test_single_output_is_answered_unnamed_and_named_by_the_client(tfserving):
    standin, url = tfserving
    client = PredictClient(url, "query", version="1")
    out = client.predict({"history": np.array([["ab", ""], ["abc", "d"]], dtype=object)}, output="embeddings")
    np.testing.assert_array_equal(out["embeddings"], [[[2, 4], [0, 0]], [[3, 6], [1, 2]]])
    model, body = standin.requests[-1]
    assert model == "query" and body == {"signature_name": "serving_default",
                                         "inputs": {"history": [["ab", ""], ["abc", "d"]]}}


def test_several_outputs_and_strings_round_trip(tfserving):
    _, url = tfserving
    out = PredictClient(url, "pair").predict({"item_ids": np.array(["a1", "b2"], dtype=object),
                                              "age": np.array([1.5, 3.0])})
    assert out["echo"].tolist() == ["A1", "B2"]
    np.testing.assert_allclose(out["double"], [3.0, 6.0])


def test_status_lists_available_versions(tfserving):
    _, url = tfserving
    assert PredictClient(url, "query").available_versions() == ["1"]


def test_errors_name_the_model_and_reason(tfserving):
    _, url = tfserving
    with pytest.raises(TFServingError, match="query: TF Serving answered 400"):
        PredictClient(url, "query").predict({"wrong": np.array([["a"]], dtype=object)})
    with pytest.raises(TFServingError, match="nosuch: TF Serving answered 404"):
        PredictClient(url, "nosuch").predict({"history": np.array([["a"]], dtype=object)})
    with pytest.raises(TFServingError, match="unreachable"):
        PredictClient("http://127.0.0.1:9", "query", timeout_s=1).predict({"history": np.array([["a"]])})


def test_standin_row_format_matches_tf_serving(tfserving):
    """The stand-in also speaks the row format ("instances" -> "predictions")."""
    import httpx

    _, url = tfserving
    single = httpx.post(f"{url}/v1/models/query/labels/stable:predict",
                        json={"instances": [["ab", "c"]]}).json()
    assert single == {"predictions": [[[2.0, 4.0], [1.0, 2.0]]]}
    several = httpx.post(f"{url}/v1/models/pair:predict",
                         json={"instances": [{"item_ids": "x", "age": 2.0}]}).json()
    assert several == {"predictions": [{"echo": "X", "double": 4.0}]}
