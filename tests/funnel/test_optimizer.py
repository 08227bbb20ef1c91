"""Guards funnel/optimizer.py: FusedAdam takes Adam's steps (Kingma & Ba 2015, Algorithm 1)."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from funnel.optimizer import FusedAdam

ROWS, DIM = 6, 3


def steps(optimizer, gradients) -> np.ndarray:
    """The variable after applying ``gradients`` one step each, from a fixed start."""
    variable = tf.Variable(np.arange(ROWS * DIM, dtype=np.float32).reshape(ROWS, DIM) / 10)
    for gradient in gradients:
        optimizer.apply_gradients([(gradient, variable)])
    return variable.numpy()


def sparse(rows, seed) -> tf.IndexedSlices:
    values = np.random.default_rng(seed).normal(size=(len(rows), DIM)).astype(np.float32)
    return tf.IndexedSlices(tf.constant(values), tf.constant(rows, tf.int64), tf.constant([ROWS, DIM], tf.int64))


def test_dense_gradients_step_as_keras_adam():
    rng = np.random.default_rng(0)
    gradients = [tf.constant(rng.normal(size=(ROWS, DIM)).astype(np.float32)) for _ in range(4)]
    np.testing.assert_allclose(steps(FusedAdam(0.05), gradients),
                               steps(keras.optimizers.Adam(0.05), gradients), rtol=1e-5, atol=1e-6)


def test_sparse_gradients_move_every_row_as_keras_adam_does():
    gradients = [sparse([0, 3], 1), sparse([1, 5], 2), sparse([4], 3)]
    fused = steps(FusedAdam(0.05), gradients)
    np.testing.assert_allclose(fused, steps(keras.optimizers.Adam(0.05), gradients), rtol=1e-5, atol=1e-6)
    after_first = steps(FusedAdam(0.05), gradients[:1])
    assert not np.allclose(fused[0], after_first[0])  # row 0 keeps moving on its momentum


def test_a_row_repeated_in_a_batch_takes_the_step_of_its_summed_gradient():
    # Keras sums repeated rows before ``update_step``; this fails if FusedAdam's path ever
    # skips that (an ``apply_gradients`` of its own), not if its densifying sum breaks.
    repeated = sparse([2, 2, 4], 4)
    summed = tf.convert_to_tensor(repeated)  # row 2's two parts added: Algorithm 1's g_t
    np.testing.assert_allclose(steps(FusedAdam(0.05), [repeated, repeated]),
                               steps(keras.optimizers.Adam(0.05), [summed, summed]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("option", [{"amsgrad": True}, {"adaptive_epsilon": True}])
def test_variants_without_a_fused_kernel_take_keras_steps(option):
    gradients = [sparse([0, 1], 5), sparse([1, 2], 6)]
    np.testing.assert_allclose(steps(FusedAdam(0.05, **option), gradients),
                               steps(keras.optimizers.Adam(0.05, **option), gradients), rtol=1e-6)
