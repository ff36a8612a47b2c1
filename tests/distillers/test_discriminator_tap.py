"""`DiscriminatorTap` on its own: arguments, widths and projections, config.

Tests keras_anc/distillers/discriminator_tap.py; the distiller with taps is tested in
test_discriminator_taps.py.
"""

import keras
import numpy as np
import pytest

import keras_anc
from keras_anc.distillers.discriminator_tap import bind_taps, check_discriminator_taps


def test_names_default_to_the_layers():
    assert keras_anc.DiscriminatorTap("block", "block").name == "block"
    assert keras_anc.DiscriminatorTap("conv_3", "conv_1").name == "conv_3_conv_1"
    assert keras_anc.DiscriminatorTap("a", "b", name="mid").name == "mid"
    tap = keras_anc.DiscriminatorTap("a", "b", name="mid")
    assert tap.discriminator.name == "discriminator_mid"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"teacher_layer": None}, r"`teacher_layer` must be the name of a layer.*None"),
        ({"student_layer": ""}, r"`student_layer` must be the name of a layer"),
        ({"weight": -1.0}, r"`weight` must be a finite number >= 0.*weight=-1.0"),
        ({"weight": float("nan")}, "finite number"),
        ({"weight": True}, "finite number"),
        ({"weight": "1"}, "finite number"),
        ({"projection": "yes"}, r"`projection` must be 'auto', True or False.*'yes'"),
        ({"projection": 1}, r"`projection` must be"),
        ({"discriminator": keras.layers.Dense(1)}, "must be a keras.Model.*Dense"),
        (
            {
                "discriminator": keras_anc.MLPDiscriminator(),
                "kernel_regularizer": keras.regularizers.L2(1e-4),
            },
            "only without `discriminator`",
        ),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    arguments = {"teacher_layer": "a", "student_layer": "b", **kwargs}
    with pytest.raises(ValueError, match=match):
        keras_anc.DiscriminatorTap(**arguments)


def test_the_projection_follows_the_widths():
    auto = keras_anc.DiscriminatorTap("a", "b")
    auto.bind(32, 8)
    assert auto.projection.kernel.shape == (8, 32)
    assert auto.discriminator.built
    assert len(auto.projection_variables) == 2
    same = keras_anc.DiscriminatorTap("a", "b")
    same.bind(16, 16)
    assert same.projection is None and same.projection_variables == []
    features = np.ones((2, 16), "float32")
    np.testing.assert_array_equal(same.project(features), features)
    forced = keras_anc.DiscriminatorTap("a", "b", projection=True)
    forced.bind(16, 16)
    assert forced.projection.kernel.shape == (16, 16)
    assert keras.ops.convert_to_numpy(forced.project(features)).dtype == np.float32
    # The discriminator scores teacher-width features.
    assert tuple(auto(np.zeros((3, 32), "float32")).shape) == (3, 1)


def test_binding_refuses_what_it_cannot_serve():
    never = keras_anc.DiscriminatorTap("a", "b", projection=False)
    with pytest.raises(ValueError, match=r"projection=False.*'a' is 32 wide.*'b' 8"):
        never.bind(32, 8)
    tap = keras_anc.DiscriminatorTap("a", "b")
    tap.bind(32, 8)
    tap.bind(32, 8)  # the same widths again: nothing changes
    with pytest.raises(ValueError, match=r"already used for features of widths \(32, 8\)"):
        tap.bind(16, 8)


def test_bind_taps_reads_the_layer_widths(student_factory):
    teacher = student_factory([32, 16], "teacher")
    student = student_factory([8, 4], "student")
    tap = keras_anc.DiscriminatorTap("features", "features")
    bind_taps([tap], teacher, student)
    assert tap.projection.kernel.shape == (4, 16)
    with pytest.raises(ValueError, match="The student has no layer named 'nope'"):
        bind_taps([keras_anc.DiscriminatorTap("features", "nope")], teacher, student)


def test_the_default_discriminator_gets_the_kernel_regularizer():
    tap = keras_anc.DiscriminatorTap("a", "b", kernel_regularizer=keras.regularizers.L2(0.5))
    tap.bind(4, 4)
    assert isinstance(tap.discriminator, keras_anc.MLPDiscriminator)
    assert isinstance(tap.discriminator.kernel_regularizer, keras.regularizers.L2)
    tap.discriminator(np.ones((2, 4), "float32"))
    assert len(tap.discriminator.losses) == 4  # three hidden kernels and the output's


def test_check_discriminator_taps():
    assert check_discriminator_taps(None) == []
    taps = (keras_anc.DiscriminatorTap("a", "a"), keras_anc.DiscriminatorTap("b", "b"))
    assert check_discriminator_taps(taps) == list(taps)
    with pytest.raises(ValueError, match=r"`discriminator_taps\[1\]` must be a keras_anc"):
        check_discriminator_taps([taps[0], ("a", "b")])
    with pytest.raises(ValueError, match="must be a list of keras_anc.DiscriminatorTap"):
        check_discriminator_taps(taps[0])
    twin = keras_anc.DiscriminatorTap("x", "a", name="a")
    with pytest.raises(ValueError, match=r"\[0\]` and `discriminator_taps\[1\]` are both"):
        check_discriminator_taps([taps[0], twin])


def test_config_round_trip():
    disc = keras_anc.MLPDiscriminator(hidden_units=(8,), name="my_d")
    tap = keras_anc.DiscriminatorTap(
        "a", "b", weight=0.25, discriminator=disc, projection=True, name="mid"
    )
    config = keras.saving.serialize_keras_object(tap)
    clone = keras.saving.deserialize_keras_object(config)
    assert isinstance(clone, keras_anc.DiscriminatorTap)
    assert (clone.teacher_layer, clone.student_layer, clone.weight) == ("a", "b", 0.25)
    assert clone.projection_mode is True and clone.name == "mid"
    assert clone.discriminator.hidden_units == (8,) and clone.discriminator.name == "my_d"
    assert keras.saving.serialize_keras_object(clone) == config
