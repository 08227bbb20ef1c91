"""pipelines stage of funnel: synthetic data and the Beam preprocessing pipeline.

``funnel preprocess`` (:mod:`pipelines.pipeline`) reads a dataset with one of
:data:`pipelines.readers.READERS`, validates every row (:mod:`pipelines.validate`,
bad rows to ``deadletter/``), builds vocabularies (:mod:`pipelines.vocab`),
retrieval sequences (:mod:`pipelines.sequences`) and ranking examples
(:mod:`pipelines.ranking_examples`) per user bucket, and writes TFRecords
(:mod:`funnel.tfrecord`, :mod:`pipelines.io`) into a staging folder that is
renamed to ``--out`` only when complete. The steps are plain functions
(:mod:`pipelines.stages`) that :mod:`pipelines.transforms` wraps for Beam and
:mod:`pipelines.local` runs without it.
"""

import funnel  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
