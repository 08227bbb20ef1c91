"""Whole training sequences for SASRec, rebuilt from funnel's (prefix, next item) examples.

SASRec (Kang & McAuley 2018, §III-E) trains every position of a sequence at
once: the input is ``s_1 .. s_L`` and the target of position t is
``s_{t+1}``. funnel's training split holds one example per target instead
(``pipelines.sequences``): each piece of at most ``max_len + 1`` items yields
(prefix, next item) for every prefix, so the piece ``a b c d`` gives
``([a], b)``, ``([a b], c)`` and ``([a b c], d)``.

:func:`maximal_sequences` keeps the examples no other example of the same user
extends: ``(h, t)`` is redundant when that user also has the history
``h + [t]`` (left-padded to L, which needs ``len(h) < L``). A kept example
``([a b c], d)`` becomes the input ``a b c`` with position targets
``b c d``, so every training target is still trained on exactly once.
Left padding (``schema.PADDING_ID``) stays, with target ``PADDING_ID``: the
loss skips those positions.

Validation keeps its own examples, each trained only at the last position
(the next-item question early stopping should watch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from funnel import dataset, schema


def maximal_sequences(users: np.ndarray, histories: np.ndarray, targets: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The maximal training sequences and their per-position targets.

    Args:
        users: ``[E]`` user id of each example.
        histories: ``[E, L]`` left-padded histories, most recent last.
        targets: ``[E]`` next item of each history.

    Returns:
        inputs ``[S, L]`` (the kept histories) and position targets ``[S, L]``
        (the history shifted left by one, then the example's target;
        ``PADDING_ID`` where the input is padding), in the examples' order.
    """
    users = np.asarray(users, dtype=np.int64)
    histories = np.asarray(histories, dtype=np.int64)
    targets = np.asarray(targets, dtype=np.int64)
    extended = np.concatenate([histories[:, 1:], targets[:, None]], axis=1)      # h + [t], [E, L]
    keys = np.concatenate([np.concatenate([users, users])[:, None],               # [2E, 1 + L]
                           np.concatenate([histories, extended])], axis=1)
    _, key_ids = np.unique(keys, axis=0, return_inverse=True)
    key_ids = key_ids.reshape(-1)
    history_ids, extended_ids = key_ids[:len(users)], key_ids[len(users):]
    has_room = histories[:, 0] == schema.PADDING_ID                             # len(h) < L
    redundant = has_room & np.isin(extended_ids, history_ids)
    kept = ~redundant
    inputs = histories[kept]
    position_targets = np.where(inputs != schema.PADDING_ID, extended[kept], schema.PADDING_ID)
    return inputs, position_targets


def last_position_targets(targets: np.ndarray, length: int) -> np.ndarray:
    """``[E]`` targets -> ``[E, length]`` position targets, all padding but the last column."""
    out = np.full((len(targets), length), schema.PADDING_ID, dtype=np.int64)
    out[:, -1] = targets
    return out


def sequence_datasets(data_dir: str | Path, batch_size: int, seed: int
                      ) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training and validation ``tf.data`` of (history ``[B, L]``, position targets ``[B, L]``).

    Training batches are the shuffled :func:`maximal_sequences` of the training
    split (reshuffled every epoch); validation batches are the validation
    split's examples, scored at the last position only.
    """
    train = dataset.load_arrays(dataset.retrieval_dataset(data_dir, schema.TRAIN, 8192))
    inputs, position_targets = maximal_sequences(train[schema.USER_ID], train[schema.HISTORY],
                                                 train[schema.TARGET_ITEM])
    training = (tf.data.Dataset.from_tensor_slices((inputs, position_targets))
                .shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
                .batch(batch_size).prefetch(tf.data.AUTOTUNE))
    held_out = dataset.load_arrays(dataset.retrieval_dataset(data_dir, schema.VALIDATION, 8192))
    histories = held_out[schema.HISTORY].astype(np.int64)
    validation = (tf.data.Dataset.from_tensor_slices(
        (histories, last_position_targets(held_out[schema.TARGET_ITEM], histories.shape[1])))
        .batch(batch_size).prefetch(tf.data.AUTOTUNE))
    return training, validation
