"""Guards funnel/config.py: configs reject unknown keys and survive a JSON round trip."""

import dataclasses

import pytest

from funnel import config


@dataclasses.dataclass(frozen=True)
class Example:
    layers: tuple = (16, 16)
    rate: float = 0.1


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ValueError, match="crossing_layers"):
        config.from_dict(Example, {"crossing_layers": 3})


def test_save_and_load_round_trip_restores_tuples(tmp_path):
    original = Example(layers=(8, 4), rate=0.5)
    config.save(original, tmp_path / "c.json")
    assert config.load(Example, tmp_path / "c.json") == original


def test_choice_lists_valid_names():
    with pytest.raises(ValueError, match=r"\['a', 'b'\]"):
        config.choice("--model", "c", {"a": 1, "b": 2})
    assert config.choice("--model", "b", {"a": 1, "b": 2}) == 2


def test_kind_is_accepted_beside_the_fields_and_other_unknown_keys_still_named(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"kind": "retrieval", "rate": 0.5}')
    assert config.saved_values(path) == {"rate": 0.5}
    assert config.load(Example, path, command="funnel train x") == Example(rate=0.5)
    path.write_text('{"kind": "retrieval", "rate": 0.5, "depth": 2}')
    with pytest.raises(ValueError, match=r"unknown option\(s\) depth\)"):
        config.load(Example, path, command="funnel train x")
