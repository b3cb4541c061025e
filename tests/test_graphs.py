"""The measuring process's gate: an exported graph runs only if every operation it can reach
is on the allow-list (no files, no Python, no system), and only what TensorFlow 2 needs of
the SavedModel is kept."""
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from autograder.isolation import graphs  # noqa: E402


def saved(tmp_path, **functions):
    """A SavedModel at tmp_path/model with one traced endpoint per keyword (2 x 3 inputs)."""
    module = tf.Module()
    module.scale = tf.Variable(2.0)
    for name, fn in functions.items():
        setattr(module, name, tf.function(fn, input_signature=[tf.TensorSpec((2, 3), tf.float32)]))
    tf.saved_model.save(module, str(tmp_path / "model"))
    return tmp_path / "model"


def test_allowed_graphs_load_and_run_without_the_saver(tmp_path):
    model = saved(tmp_path, double=lambda x: x * 2.0 + tf.random.normal((2, 3)) * 0.0,
                  talk=lambda x: (tf.print("shape", tf.shape(x)), x)[1])
    loaded = graphs.load(model, tmp_path / "clean")
    assert np.allclose(loaded.double(tf.ones((2, 3))), 2.0)
    from tensorflow.core.protobuf import saved_model_pb2

    kept = saved_model_pb2.SavedModel.FromString((tmp_path / "clean" / "saved_model.pb").read_bytes())
    operations = {node.op for function in kept.meta_graphs[0].graph_def.library.function for node in function.node_def}
    assert "PrintV2" in operations and not operations & {"SaveV2", "RestoreV2", "MergeV2Checkpoints"}  # saver gone


@pytest.mark.parametrize("body, operation", [
    (lambda x: (tf.io.write_file("/tmp/graph-wrote-this", "x"), x)[1], "WriteFile"),
    (lambda x: x + tf.cast(tf.strings.length(tf.io.read_file("/etc/hostname")), tf.float32) * 0.0, "ReadFile"),
    (lambda x: tf.py_function(lambda v: v, [x], tf.float32), "EagerPyFunc"),
    (lambda x: (tf.print(x, output_stream="file:///tmp/graph-printed-here"), x)[1], "PrintV2 to a file"),
])
def test_file_python_and_system_operations_are_refused(body, operation, tmp_path):
    model = saved(tmp_path, bad=body)
    with pytest.raises(graphs.Refused, match=f"does not run: .*{operation}"):
        graphs.load(model, tmp_path / "clean")
    assert not os.path.exists("/tmp/graph-wrote-this") and not os.path.exists("/tmp/graph-printed-here")


def test_a_refused_function_anywhere_refuses_the_whole_graph(tmp_path):
    model = saved(tmp_path, good=lambda x: x, bad=lambda x: (tf.io.write_file("/tmp/graph-wrote-this", "x"), x)[1])
    with pytest.raises(graphs.Refused, match="WriteFile"):
        graphs.clean_copy(model, tmp_path / "clean")


def test_unreadable_or_linked_graph_files_are_refused(tmp_path):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "saved_model.pb").write_bytes(b"\x08\x99 not a protobuf" * 50)
    with pytest.raises(graphs.Refused):
        graphs.clean_copy(tmp_path / "garbage", tmp_path / "clean1")
    model = saved(tmp_path, good=lambda x: x)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "saved_model.pb").symlink_to(model / "saved_model.pb")
    with pytest.raises(graphs.Refused, match="no usable exported graph"):
        graphs.clean_copy(tmp_path / "linked", tmp_path / "clean2")


def test_every_operation_of_common_models_is_allowed(tmp_path):
    """Convolutions, batch normalisation, dropout, leaky ReLU, reshapes and random draws: the
    operations reasonable VAEs use are all on the list."""
    layers = tf.keras.layers
    model = tf.keras.Sequential([
        layers.Reshape((28, 28, 1)), layers.Conv2D(4, 3, strides=2, padding="same"), layers.BatchNormalization(),
        layers.LeakyReLU(), layers.Dropout(0.2), layers.Flatten(), layers.Dense(8, activation="elu"),
        layers.Dense(16 * 7 * 7), layers.Reshape((7, 7, 16)), layers.Conv2DTranspose(8, 3, strides=2, padding="same"),
        layers.UpSampling2D(), layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    module = tf.Module()
    module.model = model
    module.train = tf.function(lambda x: model(x + tf.random.normal(tf.shape(x)) * 0.1, training=True),
                               input_signature=[tf.TensorSpec((2, 784), tf.float32)])
    module.infer = tf.function(lambda x: model(x), input_signature=[tf.TensorSpec((2, 784), tf.float32)])
    module.train.get_concrete_function()
    module.captured = list(module.train.get_concrete_function().variables)
    tf.saved_model.save(module, str(tmp_path / "conv"))
    loaded = graphs.load(tmp_path / "conv", tmp_path / "clean")
    assert loaded.infer(tf.zeros((2, 784))).shape == (2, 28, 28, 1)


def test_the_convolutions_of_an_endpoint_are_read_with_their_shapes_and_layouts(tmp_path):
    """Endpoints.convolutions: every Conv2D / transposed convolution the outputs depend on, with the
    shape it convolves, also inside a nested tf.function, and Keras' channels_first layout as NCHW
    (8.5 reads these); one computed and thrown away does not count."""
    from pathlib import Path

    from autograder.isolation.measuring import Endpoints

    layers = tf.keras.layers
    conv, first = layers.Conv2D(4, 3, strides=2, padding="same"), layers.Conv2D(4, 3, data_format="channels_first")
    up = layers.Conv2DTranspose(1, 3, strides=2, padding="same")
    inner = tf.function(lambda x: conv(x))
    module = tf.Module()
    module.layers = [conv, first, up]
    images = [tf.TensorSpec((2, 1, 28, 28), tf.float32)]
    module.encode = tf.function(lambda x: inner(tf.reshape(x, (-1, 28, 28, 1))), input_signature=images)
    module.channels_first = tf.function(lambda x: first(x), input_signature=images)
    module.decode = tf.function(lambda x: up(tf.reshape(x, (-1, 14, 14, 1))), input_signature=[tf.TensorSpec((2, 196))])
    module.dense = tf.function(lambda x: (up(tf.reshape(x, (-1, 14, 14, 1))), x * 2.0)[1],  # a deconv thrown away
                               input_signature=[tf.TensorSpec((2, 196))])
    for function in (module.encode, module.channels_first, module.decode, module.dense):
        function.get_concrete_function()
    tf.saved_model.save(module, str(tmp_path / "model"))
    endpoints = Endpoints(tf, Path(tmp_path), dict.fromkeys(["encode", "channels_first", "decode", "dense"], "model"),
                          Path(tmp_path / "scratch"))
    assert endpoints.convolutions("encode") == [("Conv2D", "NHWC", (2, 28, 28, 1))]
    assert endpoints.convolutions("decode") == [("Conv2DBackpropInput", "NHWC", (2, 14, 14, 1))]
    assert endpoints.convolutions("channels_first")[0][:2] == ("Conv2D", "NCHW")
    assert endpoints.convolutions("dense") == []
