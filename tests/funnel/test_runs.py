"""Guards funnel/runs.py: where a run keeps its files, and the kind its config records."""

import dataclasses
import json

import pytest

from funnel import config as config_lib
from funnel import runs


@dataclasses.dataclass(frozen=True)
class Example:
    layers: tuple = (16, 16)
    rate: float = 0.1


def test_layout_names_every_shared_file_below_the_run(tmp_path):
    layout = runs.RunLayout(str(tmp_path))
    assert layout.config == tmp_path / "config.json"
    assert layout.metrics == tmp_path / "metrics.json"
    assert layout.weights == tmp_path / "weights" / "model"
    assert layout.dataset == tmp_path / "dataset"


def test_saved_config_records_its_kind_and_loads_back_without_it(tmp_path):
    layout = runs.RunLayout(tmp_path)
    layout.save_config(Example(layers=(8, 4)), runs.RANKING)
    assert json.loads(layout.config.read_text()) == {"kind": "ranking", "layers": [8, 4], "rate": 0.1}
    assert layout.kind() == "ranking"
    assert config_lib.load(Example, layout.config, command="funnel train example") == Example(layers=(8, 4))


def test_a_config_saved_before_kinds_has_none(tmp_path):
    layout = runs.RunLayout(tmp_path)
    config_lib.save(Example(), layout.config)
    assert layout.kind() is None
    assert config_lib.load(Example, layout.config) == Example()


def test_unknown_kinds_are_refused_when_saved_and_when_read(tmp_path):
    layout = runs.RunLayout(tmp_path)
    with pytest.raises(ValueError, match=r"'scoring'.*\['retrieval', 'ranking'\]"):
        layout.save_config(Example(), "scoring")
    assert not layout.config.exists()
    layout.config.write_text(json.dumps({"kind": "scoring", "rate": 0.1}))
    with pytest.raises(ValueError, match="kind 'scoring' is not a run kind"):
        layout.kind()
