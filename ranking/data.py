"""The splits a ranking run trains and evaluates on, at its negative ratio.

Without ``negative_ratio`` the split streams from its TFRecords; with one, the
split is read into memory and down-sampled by ``ranking.sampling`` (identical
for training and for a later ``funnel evaluate ranking`` of the same run).
"""

from __future__ import annotations

import tensorflow as tf

from funnel import dataset, schema
from ranking import sampling

READ_BATCH = 8192


def split_dataset(data_dir, split: str, config, shuffle: bool = False):
    """(batched ``tf.data.Dataset`` of feature dicts with ``LABEL``, kept summary or None)."""
    if config.negative_ratio is None:
        return dataset.ranking_dataset(data_dir, split, config.batch_size, shuffle=shuffle,
                                       seed=config.seed), None
    arrays = dataset.load_arrays(dataset.ranking_dataset(data_dir, split, READ_BATCH))
    rows, summary = sampling.downsample_positives(arrays[schema.LABEL], config.negative_ratio,
                                                  sampling.split_seed(config.seed, split))
    data = tf.data.Dataset.from_tensor_slices(sampling.subset(arrays, rows))
    if shuffle:
        data = data.shuffle(len(rows), seed=config.seed, reshuffle_each_iteration=True)
    return data.batch(config.batch_size).prefetch(tf.data.AUTOTUNE), summary
