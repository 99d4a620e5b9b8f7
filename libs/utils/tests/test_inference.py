"""The ``kernels`` inference scheme against slicing written out by hand."""

import numpy as np
import pytest

from utils.inference import Scheme
from utils.inference import network_input
from utils.inference import noise_of_output
from utils.inference import predict

# 1 s kernels every 1/8 s, the last 0.5 s averaged, at 64 Hz: the seed's
# scheme, scaled down
SCHEME = Scheme(
    name="kernels",
    sample_rate=64,
    kernel_length=1.0,
    inference_sampling_rate=8.0,
    aggregation_length=0.5,
    max_batch_size=5,
)


def window(seconds: float = 2.5, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(1)
    size = int(seconds * SCHEME.sample_rate)
    return rng.standard_normal((channels, size))  # float64, as a caller's


def test_network_input_holds_every_kernel_in_order():
    witness = window()
    batch = network_input(witness, SCHEME)
    kernel, stride = SCHEME.kernel_size, SCHEME.stride_size
    starts = range(0, witness.shape[-1] - kernel + 1, stride)
    expected = np.stack([witness[:, s : s + kernel] for s in starts])
    assert batch.dtype == np.float32 and batch.flags.c_contiguous
    np.testing.assert_array_equal(batch, expected.astype(np.float32))


def test_a_window_shorter_than_a_kernel_is_refused():
    with pytest.raises(ValueError, match="shorter|< kernel"):
        network_input(window(seconds=0.5), SCHEME)


def channel_sum(batch: np.ndarray) -> np.ndarray:
    """A network whose prediction at a sample is the sum of the witnesses
    there, whichever kernel it sees it in."""
    return batch.sum(axis=1)


def test_batched_prediction_averages_the_complete_samples():
    """Calls of 5 kernels (not a divisor of the window's 13) and the one
    call of the served ensemble give the same noise: the witnesses' sum
    where a sample lies in the averaged end of as many kernels as the
    aggregation holds (at least from 1 s to W - 0.5 s into the window, what
    the cleaner's window arithmetic relies on), 0 elsewhere."""
    witness = window()
    size = witness.shape[-1]
    batched = predict(witness, channel_sum, SCHEME)
    one_call = noise_of_output(
        channel_sum(network_input(witness, SCHEME)), size, SCHEME
    )
    np.testing.assert_allclose(batched, one_call, rtol=1e-6)
    kernel, agg = SCHEME.kernel_size, SCHEME.aggregation_size
    starts = range(0, size - kernel + 1, SCHEME.stride_size)
    covering = np.zeros(size, dtype=int)
    for s in starts:
        covering[s + kernel - agg : s + kernel] += 1
    complete = covering == agg // SCHEME.stride_size
    assert complete[kernel : size - agg].all()
    expected = np.where(complete, witness.sum(axis=0), 0.0)
    np.testing.assert_allclose(batched, expected, rtol=1e-5, atol=1e-6)
