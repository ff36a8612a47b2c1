"""JAX `keras.distribution.DataParallel` on 2 XLA host devices matches one device.

The runs are in `scenarios.py run_jax` (`KERAS_BACKEND=jax`,
`XLA_FLAGS=--xla_force_host_platform_device_count=2`). Under JAX the step sees the global
batch as one sharded array, so no loss rescaling is needed and the random draws (taken
for the whole batch) equal the one-device draws: the runs match with randomness on too.
"""

import pytest

pytestmark = pytest.mark.slow


def test_two_devices_and_replicated_weights(jax_results):
    assert jax_results.facts["devices"] == jax_results.facts["replicas"] == 2
    jax_results.check("anc/off")
    assert jax_results.facts["anc/off/one/devices"] == 1
    assert jax_results.facts["anc/off/data_parallel/devices"] == 2


@pytest.mark.parametrize("randomness", ["off", "on"])
def test_distiller_matches_one_device(jax_results, assert_same_run, randomness):
    jax_results.check(f"anc/{randomness}")
    assert_same_run(jax_results, f"anc/{randomness}/one", f"anc/{randomness}/data_parallel")
