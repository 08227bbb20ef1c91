"""Guards serving/signature_runner.py: a session callable answers as the TF2-loaded signature does,
and an inline session runs its graph on the caller's thread."""

import threading

import numpy as np
import pytest
import tensorflow as tf

import funnel  # noqa: F401
from serving.signature_runner import INLINE, SessionModel


class _Scorer(tf.Module):
    """A vocabulary lookup (a table the loader must initialise) and arithmetic on two dtypes."""

    def __init__(self, vocabulary_file):
        super().__init__()
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(vocabulary_file, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                          tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER), -1)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                  tf.TensorSpec([None], tf.float64, name="x")])
    def serve(self, words, x):
        ids = tf.cast(self.table.lookup(words), tf.float64)
        length = tf.cast(tf.strings.length(words, unit="UTF8_CHAR"), tf.float64)
        return {"score": x * 2.0 + ids, "length": length}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scorer")
    vocabulary = folder / "words.txt"
    vocabulary.write_text("a\nSão Paulo\nc\n", encoding="utf-8")
    module = _Scorer(str(vocabulary))
    tf.saved_model.save(module, str(folder / "model"), signatures={"serving_default": module.serve})
    return folder / "model"


def test_session_signature_equals_the_tf2_signature_with_utf8_strings_and_cast_numbers(saved):
    words = np.array(["São Paulo", "c", "zz"], dtype=object)
    x = np.array([1, 2, 3], dtype=np.int64)                     # fed to a float64 input
    expected = tf.saved_model.load(str(saved)).signatures["serving_default"](
        words=tf.constant(words.astype(str)), x=tf.constant(x, tf.float64))
    model = SessionModel(saved)
    got = model.signature("serving_default")(words=words, x=x)
    assert set(got) == {"score", "length"}
    np.testing.assert_array_equal(got["score"], expected["score"].numpy())
    np.testing.assert_array_equal(got["score"], [3.0, 6.0, 5.0])   # the table was initialised
    np.testing.assert_array_equal(got["length"], [9.0, 1.0, 2.0])  # UTF-8 characters, not bytes
    model.close()


def test_session_signature_names_missing_and_unknown_inputs_and_signatures(saved):
    model = SessionModel(saved)
    assert "serving_default" in model.signature_names
    call = model.signature("serving_default")
    with pytest.raises(ValueError, match=r"missing \['x'\], unknown \['y'\]"):
        call(words=np.array(["a"], dtype=object), y=np.zeros(1))
    with pytest.raises(KeyError, match="no signature 'candidates'"):
        model.signature("candidates")
    model.close()
    with pytest.raises(RuntimeError):
        call(words=np.array(["a"], dtype=object), x=np.zeros(1))


class _ThreadRecorder(tf.Module):
    """Records the thread that runs its graph (a NumPy op, callable only in this process)."""

    def __init__(self):
        super().__init__()
        self.threads = []

    def _record(self, x):
        self.threads.append(threading.get_ident())
        return x

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.numpy_function(self._record, [x * 2.0], tf.float32)}


@pytest.mark.parametrize("inter_op_threads, on_caller", [(INLINE, True), (2, False)])
def test_an_inline_session_runs_the_graph_on_the_calling_thread(tmp_path, inter_op_threads, on_caller):
    module = _ThreadRecorder()
    tf.saved_model.save(module, str(tmp_path / "model"), signatures={"serving_default": module.serve})
    model = SessionModel(tmp_path / "model", intra_op_threads=1, inter_op_threads=inter_op_threads)
    got = model.signature("serving_default")(x=np.ones(2, np.float32))
    np.testing.assert_array_equal(got["y"], [2.0, 2.0])
    assert (module.threads == [threading.get_ident()]) is on_caller
    model.close()
