"""Guards funnel/cli.py: a TensorFlow op failure is one line for the user, not a traceback."""

import pytest
import tensorflow as tf

from funnel import cli
from serving.evaluation import commands


def fail_with(error):
    def handler(args):
        raise error
    return handler


def test_a_tensorflow_op_error_is_one_line_and_exit_2(monkeypatch, capsys):
    error = tf.errors.OutOfRangeError(None, None, "Read less bytes than requested\n\t [[{{node x}}]]")
    monkeypatch.setattr(commands, "evaluate_funnel", fail_with(error))
    assert cli.main(["evaluate", "funnel", "--export", "e", "--data", "d"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == ("funnel evaluate: error: TensorFlow OutOfRangeError: Read less bytes than "
                           "requested (the data does not fit the model; -v shows the traceback)")


def test_verbose_and_other_exceptions_keep_their_traceback(monkeypatch):
    monkeypatch.setattr(commands, "evaluate_funnel", fail_with(tf.errors.InvalidArgumentError(None, None, "x")))
    with pytest.raises(tf.errors.InvalidArgumentError):
        cli.main(["-v", "evaluate", "funnel", "--export", "e", "--data", "d"])
    monkeypatch.setattr(commands, "evaluate_funnel", fail_with(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["evaluate", "funnel", "--export", "e", "--data", "d"])
