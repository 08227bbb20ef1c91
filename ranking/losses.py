"""Every ranking loss, in one registry: ``LOSSES[name](**options)``.

A loss takes the labels ``[B]`` and the model's heads (a dict of click
probabilities, each ``[B]``: ``"prediction"`` always, ``"simple"`` and
``"complex"`` for models with twin encoders) and returns a scalar. Pointwise
losses also expose ``per_example(labels, probabilities) -> [B]``, which LAFAM
uses for its per-sub-network losses (eqs. 1-3).

Adding a loss is one class here and one line in ``LOSSES``.
"""

from __future__ import annotations

import abc
import inspect
from typing import Mapping

import tensorflow as tf

EPSILON = 1e-7
"""Probabilities are clipped to [EPSILON, 1 - EPSILON] before a log (as Keras does)."""


def binary_crossentropy(labels: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """Per-example ``-(y log p + (1 - y) log(1 - p))``, ``[B]``."""
    p = tf.clip_by_value(probabilities, EPSILON, 1.0 - EPSILON)
    return -(labels * tf.math.log(p) + (1.0 - labels) * tf.math.log(1.0 - p))


def probability_of_truth(labels: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
    """``p_t = y p + (1 - y)(1 - p)``: the probability given to the true class."""
    return labels * probabilities + (1.0 - labels) * (1.0 - probabilities)


class PointwiseLoss(abc.ABC):
    """A loss that is the batch mean of a per-example loss of the final prediction."""

    pointwise = True
    heads = ("prediction",)

    @abc.abstractmethod
    def per_example(self, labels: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
        """Loss of each example, ``[B]``, from labels ``[B]`` and click probabilities ``[B]``."""

    def __call__(self, labels: tf.Tensor, heads: Mapping[str, tf.Tensor]) -> tf.Tensor:
        return tf.reduce_mean(self.per_example(labels, heads["prediction"]))


class LogLoss(PointwiseLoss):
    """Binary cross-entropy (TF4CTR's ``L_ctr``, eq. 12)."""

    def per_example(self, labels, probabilities):
        return binary_crossentropy(labels, probabilities)


class FocalLoss(PointwiseLoss):
    """``-alpha_t (1 - p_t)^gamma log p_t`` (Lin et al. 2017, eq. 5; LAFAM's comparison).

    ``alpha_t = alpha`` for clicks and ``1 - alpha`` for non-clicks.
    """

    def __init__(self, alpha: float = 0.25, gamma: float = 2.0):
        self.alpha = alpha
        self.gamma = gamma

    def per_example(self, labels, probabilities):
        p_t = probability_of_truth(labels, probabilities)
        alpha_t = labels * self.alpha + (1.0 - labels) * (1.0 - self.alpha)
        return alpha_t * tf.pow(1.0 - p_t, self.gamma) * binary_crossentropy(labels, probabilities)


class ShrinkageLoss(PointwiseLoss):
    """``l^2 / (1 + exp(a (c - l)))`` with ``l = |p - y|`` (Lu et al. 2018, eq. 4; LAFAM's comparison)."""

    def __init__(self, a: float = 10.0, c: float = 0.2):
        self.a = a
        self.c = c

    def per_example(self, labels, probabilities):
        l1 = tf.abs(probabilities - labels)
        return tf.square(l1) / (1.0 + tf.exp(self.a * (self.c - l1)))


class SuppressionLoss(PointwiseLoss):
    """LAFAM's suppression loss (Wu et al. 2025, eq. 4), Table 4's parameters by default.

    ``L_sp = f(p; alpha, beta) * f(|p - y|; theta, rho) * |p - y|^gamma`` with
    ``f(x; a, b) = a (x + b) / (2 + 2 a |x + b|) + 1/2``. The paper presents the
    first factor as damping the majority class, but it is a function of p
    alone, not of the label; with Table 4's parameters (alpha 58, beta 0.69,
    theta 50, rho 0.37, gamma 2.1) ``a (x + b)`` stays in [40, 98] and
    [18.5, 68.5], so both factors lie in [0.974, 0.995] for every p and y and
    the loss is 0.96-0.99 times ``|p - y|^2.1``: symmetric in the classes, with
    no majority-class damping. Only the power damps easy examples. Report F1
    at 0.5 beside the tuned threshold (``funnel evaluate ranking``): at a
    fixed 0.5 an imbalanced model predicts few clicks, and the all-positive
    classifier already scores ``2 / (R + 2)`` at 1:R.
    """

    def __init__(self, alpha: float = 58.0, beta: float = 0.69, theta: float = 50.0,
                 rho: float = 0.37, gamma: float = 2.1):
        self.alpha, self.beta, self.theta, self.rho, self.gamma = alpha, beta, theta, rho, gamma

    @staticmethod
    def squash(x: tf.Tensor, slope: float, shift: float) -> tf.Tensor:
        """``f_sp(x) = a (x + b) / (2 + 2 a |x + b|) + 1/2``, in (0, 1) (LAFAM §3.3)."""
        shifted = slope * (x + shift)
        return shifted / (2.0 + 2.0 * tf.abs(shifted)) + 0.5

    def per_example(self, labels, probabilities):
        error = tf.abs(probabilities - labels)
        return (self.squash(probabilities, self.alpha, self.beta)
                * self.squash(error, self.theta, self.rho)
                * tf.pow(error + 0.0, self.gamma))


class TwinFocusLoss:
    """TF4CTR's training objective ``L_total = L_ctr + L_TF`` (Li et al. 2024, eqs. 7 and 12).

    As in the authors' code (``salmon1802/TF4CTR``), both encoders' terms use
    ``p_t = y p + (1 - y)(1 - p)`` of their own probability:

    - ``L_simple = mean(BCE(p_s, y) * (c + p_t)^gamma)``,
    - ``L_complex = mean(BCE(p_c, y) * ((2 - c) - p_t)^gamma)``,
    - ``L_TF = alpha * L_simple + (1 - alpha) * L_complex``,

    so the simple encoder learns mostly from easy examples and the complex one
    from hard ones. Needs a model with ``"simple"`` and ``"complex"`` heads.
    """

    pointwise = False
    heads = ("prediction", "simple", "complex")

    def __init__(self, c: float = 0.8, gamma: float = 2.0, alpha: float = 0.25):
        self.c, self.gamma, self.alpha = c, gamma, alpha

    def twin_focus(self, labels, simple, complex_):
        """``L_TF`` of eq. 7 (scalar)."""
        p_t = probability_of_truth(labels, simple)
        l_simple = tf.reduce_mean(binary_crossentropy(labels, simple) * tf.pow(self.c + p_t, self.gamma))
        p_t = probability_of_truth(labels, complex_)
        l_complex = tf.reduce_mean(binary_crossentropy(labels, complex_)
                                   * tf.pow((2.0 - self.c) - p_t, self.gamma))
        return self.alpha * l_simple + (1.0 - self.alpha) * l_complex

    def __call__(self, labels, heads):
        missing = [h for h in self.heads if h not in heads]
        if missing:
            raise ValueError(f"loss 'tf': the model has no {missing} heads; it needs twin encoders")
        l_ctr = tf.reduce_mean(binary_crossentropy(labels, heads["prediction"]))
        return l_ctr + self.twin_focus(labels, heads["simple"], heads["complex"])


LOSSES = {
    "logloss": LogLoss,
    "focal": FocalLoss,
    "shrinkage": ShrinkageLoss,
    "suppression": SuppressionLoss,
    "tf": TwinFocusLoss,
}


def build_loss(name: str, options=()):
    """``LOSSES[name]`` built with ``options`` (pairs or a mapping) overriding its defaults.

    Raises:
        ValueError: unknown loss name, or an option the loss does not take.
    """
    if name not in LOSSES:
        raise ValueError(f"loss: unknown value {name!r}; choose one of {sorted(LOSSES)}")
    cls = LOSSES[name]
    options = dict(options)
    accepted = {p.name for p in inspect.signature(cls).parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"loss {name!r}: unknown option(s) {unknown}; valid: {sorted(accepted)}")
    return cls(**{key: float(value) for key, value in options.items()})
