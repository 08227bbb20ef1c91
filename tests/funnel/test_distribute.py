"""Guards funnel/distribute.py: which tf.distribute strategy the hardware gets."""

import json
import os

from funnel import distribute

TWO_WORKERS = json.dumps({"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
                          "task": {"type": "worker", "index": 0}})
ONE_WORKER = json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}})


def test_cpu_only_gets_the_default_strategy():
    assert distribute.strategy_name(num_gpus=0, tf_config=None) == "default"


def test_gpus_get_mirrored_strategy():
    assert distribute.strategy_name(num_gpus=1, tf_config=None) == "MirroredStrategy"
    assert distribute.strategy_name(num_gpus=4, tf_config="") == "MirroredStrategy"


def test_tf_config_with_several_workers_gets_multi_worker_strategy():
    assert distribute.strategy_name(num_gpus=0, tf_config=TWO_WORKERS) == "MultiWorkerMirroredStrategy"
    assert distribute.strategy_name(num_gpus=2, tf_config=TWO_WORKERS) == "MultiWorkerMirroredStrategy"


def test_a_single_worker_tf_config_is_not_multi_worker():
    assert distribute.num_workers_in(ONE_WORKER) == 1
    assert distribute.strategy_name(num_gpus=0, tf_config=ONE_WORKER) == "default"


def test_pick_strategy_on_this_cpu_machine_is_the_default_one():
    import tensorflow as tf

    strategy = distribute.pick_strategy(tf_config="")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_mixed_precision_switch_sets_and_resets_the_keras_policy():
    import tf_keras as keras

    distribute.set_mixed_precision(True)
    try:
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        distribute.set_mixed_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_training_pools_cpu_memory_unless_the_user_chose(monkeypatch):
    for name in distribute.POOLED_CPU_MEMORY:
        monkeypatch.delenv(name, raising=False)
    distribute.pool_cpu_memory()
    assert all(os.environ[name] == value for name, value in distribute.POOLED_CPU_MEMORY.items())
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "false")
    distribute.pool_cpu_memory()
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"
