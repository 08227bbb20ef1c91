"""Guards serving/export/verify.py's pieces that need no export: TF Serving REST body mapping,
the ``saved_model_cli show`` formatting of signatures and the ranking logit checks."""

import base64

import numpy as np
import pytest
import tensorflow as tf

from serving.export import verify

SPECS = {"history": (np.object_, (None, None)), "k": (np.int32, (None,))}


def test_row_format_stacks_instances_per_input():
    body = {"instances": [{"history": ["i1", ""], "k": 3}, {"history": ["i2", "i3"], "k": 3}]}
    inputs = verify.rest_to_inputs(body, SPECS)
    assert inputs["history"].tolist() == [[b"i1", b""], [b"i2", b"i3"]]
    assert inputs["k"].dtype == np.int32 and inputs["k"].tolist() == [3, 3]


def test_columnar_format_takes_whole_tensors_and_b64():
    encoded = base64.b64encode(b"i9").decode()
    body = {"inputs": {"history": [[{"b64": encoded}, "i1"]], "k": [5]}}
    inputs = verify.rest_to_inputs(body, SPECS)
    assert inputs["history"].tolist() == [[b"i9", b"i1"]]


def test_single_input_signatures_accept_bare_values():
    specs = {"item_ids": (np.object_, (None,))}
    assert verify.rest_to_inputs({"instances": ["i1", "i2"]}, specs)["item_ids"].tolist() == [b"i1", b"i2"]
    assert verify.rest_to_inputs({"inputs": ["i3"]}, specs)["item_ids"].tolist() == [b"i3"]


@pytest.mark.parametrize("body, message", [
    ({"instances": [{"history": [["i1"]]}]}, r"instance 0: keys \['history'\], the signature takes"),
    ({"inputs": {"history": ["i1"], "k": [1]}}, r"input 'history': shape \(1,\) does not fit"),
    ({"inputs": {"history": [["i1"]], "k": ["x"]}}, "input 'k': cannot convert to int32"),
    ({"inputs": {"history": [[1]], "k": [1]}}, "input 'history': expected strings"),
    ({"instances": [], "inputs": {}}, "exactly one of 'instances'"),
])
def test_bodies_that_do_not_fit_name_the_input(body, message):
    with pytest.raises(verify.RestMappingError, match=message):
        verify.rest_to_inputs(body, SPECS)


def test_scalar_inputs_cannot_use_the_row_format():
    with pytest.raises(verify.RestMappingError, match="'k' is a scalar"):
        verify.rest_to_inputs({"instances": [{"x": 1.0, "k": 2}]},
                              {"x": (np.float32, (None,)), "k": (np.int32, ())})


def test_rest_bodies_round_trip_through_the_mapping():
    inputs = {"history": np.array([["a", ""]], dtype=object), "k": np.array([4], np.int32)}
    for body in verify.rest_bodies(inputs).values():
        mapped = verify.rest_to_inputs(body, SPECS)
        assert mapped["history"].tolist() == [[b"a", b""]] and mapped["k"].tolist() == [4]


class Doubler(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(self, x):
        return {"doubled": 2.0 * x}


def test_signatures_print_like_saved_model_cli(tmp_path):
    module = Doubler()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    text = verify.format_signatures(verify.read_signatures(tmp_path))
    assert "signature_def['serving_default']:" in text
    assert ("    inputs['x'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)\n"
            "        name: serving_default_x:0") in text
    assert "    outputs['doubled'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)" in text
    assert text.rstrip().endswith("Method name is: tensorflow/serving/predict")
    specs = verify.input_specs(verify.read_signatures(tmp_path)["serving_default"])
    assert specs == {"x": (np.float32, (None, 3))}


def test_checker_counts_failures_and_tolerance():
    import io

    out = io.StringIO()
    check = verify.Checker(tolerance=1e-5, out=out)
    assert check.close("same", [1.0, 2.0], [1.0, 2.0 + 5e-6])
    assert not check.close("off", [1.0], [1.0 + 2e-5])
    assert not check.close("shape", [1.0, 2.0], [1.0])
    assert check.run("crash", lambda: 1 / 0) is None
    assert check.failures == 3
    assert "FAIL off: max abs diff 2.00e-05" in out.getvalue()


def test_a_rankers_logit_is_checked_against_its_probability_and_the_recorded_reference():
    import io

    out = io.StringIO()
    check = verify.Checker(tolerance=1e-5, out=out)
    logit = np.array([-2.0, 0.0, 3.0], np.float32)
    probability = (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)
    verify.check_logit_is_log_odds(check, "ranking", {"probability": probability, "logit": logit})
    verify.check_logit_is_log_odds(check, "swapped", {"probability": probability, "logit": probability})
    verify.check_logit_is_log_odds(check, "older", {"probability": probability})  # no logit: nothing to check
    assert check.checks == 2 and check.failures == 1
    assert "FAIL swapped: sigmoid(logit) vs probability" in out.getvalue()
    assert set(verify.ranking_references({"ranking/probability": probability})) == {"probability"}
    assert set(verify.ranking_references({"ranking/probability": probability, "ranking/logit": logit})) == {
        "probability", "logit"}
