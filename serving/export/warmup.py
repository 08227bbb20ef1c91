"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays this TFRecord of ``tensorflow.serving.PredictionLog`` protos
when it loads a version, so the first real request does not pay for graph
tracing. The messages come from ``tensorflow-serving-api`` (the same ``.proto``
files TF Serving is built from), so the bytes are what TF Serving parses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def prediction_log(model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray]) -> bytes:
    """One serialized ``PredictionLog`` holding a ``PredictRequest`` for ``signature_name``."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    return log.SerializeToString()


def write(savedmodel_dir: str | Path, records: list[bytes]) -> Path:
    """Write ``records`` as the SavedModel's warm-up TFRecord file."""
    import tensorflow as tf

    folder = Path(savedmodel_dir) / WARMUP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / WARMUP_FILE
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def read(savedmodel_dir: str | Path) -> list[tuple[str, str, dict[str, np.ndarray]]]:
    """Parse the warm-up file back: ``(model_name, signature_name, inputs)`` per record."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = Path(savedmodel_dir) / WARMUP_DIR / WARMUP_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: the SavedModel has no warm-up requests")
    requests = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: a warm-up record is not a predict_log")
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
        requests.append((request.model_spec.name, request.model_spec.signature_name, inputs))
    return requests
