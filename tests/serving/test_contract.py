"""Guards serving/contract.py: the service reads an export by its names without loading export code."""

import subprocess
import sys

import pytest

from funnel import schema
from serving import contract

SERVICE_MODULES = ("serving.artifacts", "serving.backends.tfserving", "serving.backends.embedded",
                   "serving.engine", "serving.app")


def test_the_service_imports_neither_tensorflow_nor_the_exporter():
    done = subprocess.run(
        [sys.executable, "-c", f"import sys\nfor name in {SERVICE_MODULES!r}: __import__(name)\n"
         "print(sorted(m for m in sys.modules if m.partition('.')[0] in ('tensorflow', "
         "'tensorflow_recommenders') or m.startswith('serving.export')))"],
        capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_ranking_inputs_name_every_feature_once_with_its_dtype():
    inputs = contract.ranking_inputs(candidate_features=True)
    assert list(inputs) == [f.name for f in schema.RANKING_FEATURES] + list(schema.CANDIDATE_FEATURES)
    assert inputs[schema.HISTORY] == contract.Input("string", rank=2)
    assert {inputs[f.name].dtype for f in schema.RANKING_FEATURES if f.kind is schema.Kind.NUMERIC} == {"float64"}
    assert {inputs[n] for n in schema.CANDIDATE_FEATURES} == {contract.Input("float32")}
    candidates = contract.candidates_inputs()
    assert list(candidates) == [*contract.ranking_inputs(), contract.OWNER]
    assert candidates[contract.OWNER] == contract.Input("int64")


@pytest.mark.parametrize("int_context", [False, True])
@pytest.mark.parametrize("candidate_features", [False, True])
def test_the_exported_signatures_take_the_contracts_inputs(int_context, candidate_features):
    tf = pytest.importorskip("tensorflow")
    from serving.export import modules

    specs = modules.ranking_input_specs(int_context, candidate_features)
    inputs = contract.ranking_inputs(int_context, candidate_features)
    assert list(specs) == list(inputs)
    for name, spec in specs.items():
        assert (spec.name, spec.dtype, spec.shape.as_list()) == (
            name, tf.as_dtype(inputs[name].dtype), [None] * inputs[name].rank)
    owner = modules.candidates_input_specs(candidate_features)[contract.OWNER]
    assert (owner.dtype, owner.shape.as_list()) == (tf.int64, [None])


def test_default_candidates_come_from_the_manifest_else_the_schema():
    assert contract.default_candidates({"candidates": {"list_width": 20, "default": 30}}) == 30
    assert contract.default_candidates({"candidates": {"list_width": None, "default": None}}) \
        == schema.DEFAULT_LIST_CANDIDATES
    assert contract.default_candidates({}) == schema.DEFAULT_LIST_CANDIDATES   # an export from before the field
    assert contract.default_candidates(None) == schema.DEFAULT_LIST_CANDIDATES
