"""Adam as one fused, in-place kernel per variable, sparse gradients included.

Adam's update is dense whatever the gradient: every row's moments decay and
every row moves (Kingma & Ba 2015, Algorithm 1). Keras' Adam does that for an
embedding table's sparse gradient with six table-sized expressions
(``-m * (1 - beta_1)``, ``-v * (1 - beta_2)``, ``m * alpha / (sqrt(v) + eps)``,
...), each a fresh tensor as large as the table; on a 1M-item table most of a
step is the kernel handing out and zeroing new pages. :class:`FusedAdam` runs
the same update as TensorFlow's ``ResourceApplyAdam``, which updates ``m``,
``v`` and the variable in place in one pass, a fraction of the time, less
still with pooled CPU memory (:func:`funnel.distribute.pool_cpu_memory`;
docs/benchmarks.md, "Training on a 1M-item catalog").

The steps are Keras' own (same formula, same defaults; Keras also sums a
row's repeated gradients before its update): only their cost changes.
"""

from __future__ import annotations

import funnel  # noqa: F401  (Keras 2 before TensorFlow)
import tensorflow as tf
import tf_keras as keras


class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose step is ``ResourceApplyAdam``; AMSGrad and the adaptive
    epsilon, which that kernel lacks, take Keras' own step."""

    def update_step(self, gradient, variable):
        if self.amsgrad or self.adaptive_epsilon:
            return super().update_step(gradient, variable)
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.math.unsorted_segment_sum(gradient.values, gradient.indices,
                                                    tf.shape(variable, out_type=gradient.indices.dtype)[0])
        dtype = variable.dtype
        beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        index = self._index_dict[self._var_key(variable)]
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=self._momentums[index].handle, v=self._velocities[index].handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(self.learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype), grad=gradient)
