"""TF Serving warm-up requests: ``assets.extra/tf_serving_warmup_requests``.

TF Serving replays this TFRecord of ``tensorflow.serving.PredictionLog`` protos
when it loads a version, so the first real request does not pay for graph
tracing. The ``tensorflow_serving`` Python package is not installed here, so
the few messages needed are declared below from TF Serving's ``.proto`` files
(``apis/prediction_log.proto``, ``predict.proto``, ``model.proto``) with the
same package, names and field numbers: the bytes are what TF Serving parses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"

_MESSAGES: dict | None = None


def _field(message, name, number, kind, label="optional", type_name=None, oneof=None):
    from google.protobuf import descriptor_pb2

    field = message.field.add(name=name, number=number)
    field.type = getattr(descriptor_pb2.FieldDescriptorProto, f"TYPE_{kind.upper()}")
    field.label = getattr(descriptor_pb2.FieldDescriptorProto, f"LABEL_{label.upper()}")
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof
    return field


def _tensor_map(message, name, number):
    """``map<string, TensorProto> name = number;`` as protobuf encodes it."""
    entry_name = "".join(part.title() for part in name.split("_")) + "Entry"
    entry = message.nested_type.add(name=entry_name)
    entry.options.map_entry = True
    _field(entry, "key", 1, "string")
    _field(entry, "value", 2, "message", type_name=".tensorflow.TensorProto")
    _field(message, name, number, "message", label="repeated",
           type_name=f".tensorflow.serving.{message.name}.{entry_name}")


def messages() -> dict:
    """The message classes ``PredictionLog``, ``PredictLog``, ``PredictRequest``, ``ModelSpec``."""
    global _MESSAGES
    if _MESSAGES is not None:
        return _MESSAGES
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, wrappers_pb2
    from tensorflow.core.framework import tensor_pb2

    pool = descriptor_pool.DescriptorPool()
    for module in (wrappers_pb2, tensor_pb2):
        _add_with_dependencies(pool, module.DESCRIPTOR)
    proto = descriptor_pb2.FileDescriptorProto(
        name="funnel/tensorflow_serving_prediction_log.proto", package="tensorflow.serving",
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto", "tensorflow/core/framework/tensor.proto"])
    spec = proto.message_type.add(name="ModelSpec")
    spec.oneof_decl.add(name="version_choice")
    _field(spec, "name", 1, "string")
    _field(spec, "version", 2, "message", type_name=".google.protobuf.Int64Value", oneof=0)
    _field(spec, "signature_name", 3, "string")
    _field(spec, "version_label", 4, "string", oneof=0)
    request = proto.message_type.add(name="PredictRequest")
    _field(request, "model_spec", 1, "message", type_name=".tensorflow.serving.ModelSpec")
    _tensor_map(request, "inputs", 2)
    _field(request, "output_filter", 3, "string", label="repeated")
    response = proto.message_type.add(name="PredictResponse")
    _field(response, "model_spec", 2, "message", type_name=".tensorflow.serving.ModelSpec")
    _tensor_map(response, "outputs", 1)
    predict_log = proto.message_type.add(name="PredictLog")
    _field(predict_log, "request", 1, "message", type_name=".tensorflow.serving.PredictRequest")
    _field(predict_log, "response", 2, "message", type_name=".tensorflow.serving.PredictResponse")
    log = proto.message_type.add(name="PredictionLog")
    log.oneof_decl.add(name="log_type")
    _field(log, "predict_log", 6, "message", type_name=".tensorflow.serving.PredictLog", oneof=0)
    pool.Add(proto)
    classes = {}
    for name in ("ModelSpec", "PredictRequest", "PredictLog", "PredictionLog"):
        descriptor = pool.FindMessageTypeByName(f"tensorflow.serving.{name}")
        classes[name] = message_factory.GetMessageClass(descriptor)
    _MESSAGES = classes
    return classes


def _add_with_dependencies(pool, file_descriptor) -> None:
    from google.protobuf import descriptor_pb2

    try:
        pool.FindFileByName(file_descriptor.name)
        return
    except KeyError:
        pass
    for dependency in file_descriptor.dependencies:
        _add_with_dependencies(pool, dependency)
    proto = descriptor_pb2.FileDescriptorProto()
    file_descriptor.CopyToProto(proto)
    pool.Add(proto)


def prediction_log(model_name: str, signature_name: str, inputs: Mapping[str, np.ndarray]) -> bytes:
    """One serialized ``PredictionLog`` holding a ``PredictRequest`` for ``signature_name``."""
    import tensorflow as tf

    classes = messages()
    log = classes["PredictionLog"]()
    request = log.predict_log.request
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        # The private pool's TensorProto is a different class with the same wire format.
        request.inputs[name].ParseFromString(tf.make_tensor_proto(value).SerializeToString())
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
    from tensorflow.core.framework import tensor_pb2

    path = Path(savedmodel_dir) / WARMUP_DIR / WARMUP_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} missing: the SavedModel has no warm-up requests")
    log_class = messages()["PredictionLog"]
    requests = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = log_class.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            raise ValueError(f"{path}: a warm-up record is not a predict_log")
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(tensor_pb2.TensorProto.FromString(tensor.SerializeToString()))
                  for name, tensor in request.inputs.items()}
        requests.append((request.model_spec.name, request.model_spec.signature_name, inputs))
    return requests
