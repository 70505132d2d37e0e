"Statistical quality and invariances of the core's counter-based random streams (Philox4x32-10)."
import math

import pytest
import torch

from snn_robust.streams import (Streams, _cpu_numbers, _torch_bernoulli, _torch_normal, draw_bernoulli, draw_normal,
                                sample_streams)

N = 2**20  # numbers per check: a 4-sigma band on the mean is +-0.004


def streams(n, seed=0):
    return sample_streams(n, torch.Generator().manual_seed(seed))


def ks_two_sample(a, b):
    "The two-sample Kolmogorov-Smirnov statistic D = sup |F_a - F_b|."
    _, order = torch.cat([a, b]).double().sort()
    step = torch.where(order < len(a), 1 / len(a), -1 / len(b))
    return step.cumsum(0).abs().max().item()


def test_gaussian_moments():
    z = draw_normal((4, N // 4), streams(4)).flatten().double()
    se = 1 / math.sqrt(len(z))
    assert abs(z.mean()) < 4 * se
    assert abs(z.var() - 1) < 4 * math.sqrt(2) * se
    assert abs((z ** 3).mean()) < 4 * math.sqrt(15) * se  # skewness 0: var(z^3) = 15
    assert abs((z ** 4).mean() - 3) < 4 * math.sqrt(96) * se  # kurtosis 3: var(z^4) = 105 - 9
    assert 5.0 < z.abs().max() < 5.5  # the 24-bit inverse CDF reaches 5.42 at most; 2^20 draws pass 4.9 almost surely


def test_gaussian_against_torch_randn():
    z = draw_normal((8, N // 8), streams(8, seed=1)).flatten()
    ref = torch.randn(N, generator=torch.Generator().manual_seed(2))
    critical = 1.95 * math.sqrt(2 / N)  # alpha = 0.001
    assert ks_two_sample(z, ref) < critical
    assert ks_two_sample(z, ref + 0.02) > critical, 'the test must see a shift of 0.02 sd'


def test_realisations_and_draws_are_uncorrelated():
    st = streams(64, seed=3)
    a, b = draw_normal((64, 2**14), st), draw_normal((64, 2**14), st)  # two draws of the same 64 streams
    z = torch.cat([a, b]).double()
    corr = torch.corrcoef(z)  # 128 x 128: every pair of realisations and every realisation with its own next draw
    off = corr[~torch.eye(128, dtype=torch.bool)]
    bound = 4.5 / math.sqrt(2**14)
    assert off.abs().max() < bound
    assert abs(off.mean()) < 4 / math.sqrt(2**14 * len(off) / 2)
    neighbours = (z[:, 1:] * z[:, :-1]).mean(1)  # numbers next to each other in a stream
    assert neighbours.abs().max() < bound


def test_close_keys_give_independent_streams():
    "Keys that differ in one bit (the counter-based generator's weak spot, were it weak) give uncorrelated streams."
    keys = torch.tensor([0, 1, 2**32, 2**61])
    z = draw_normal((4, 2**16), Streams(keys)).double()
    corr = torch.corrcoef(z)
    assert corr[~torch.eye(4, dtype=torch.bool)].abs().max() < 4.5 / math.sqrt(2**16)


@pytest.mark.parametrize('p', [0.1, 0.7, 0.999])
def test_bernoulli_frequency_and_independence(p):
    m = draw_bernoulli((16, N // 16), p, streams(16, seed=4)).double()
    se = math.sqrt(p * (1 - p) / N)
    assert abs(m.mean() - p) < 4.5 * se
    assert set(m.unique().tolist()) <= {0.0, 1.0}
    per_stream = m.mean(1)
    assert (per_stream - p).abs().max() < 4.5 * math.sqrt(p * (1 - p) / m.shape[1])


@pytest.mark.parametrize('threads', [1, 2])
def test_numbers_do_not_depend_on_threads_or_the_path(threads):
    "The numba path gives the torch path's bits at any thread count, for any size and position."
    keys, old = torch.randint(0, 2**62, (7,), generator=torch.Generator().manual_seed(5)), torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for start, blocks in ((0, 1), (3, 250), (2**33, 4097)):  # a start past 2^32 blocks uses the counter's high word
            counters = torch.arange(start, start + blocks)
            assert torch.equal(_cpu_numbers(keys, start, blocks), _torch_normal(keys, counters))
            assert torch.equal(_cpu_numbers(keys, start, blocks, 2**32 // 3), _torch_bernoulli(keys, counters, 2**32 // 3))
    finally:
        torch.set_num_threads(old)


def test_a_stream_is_the_same_in_any_company():
    "Realisation s's numbers depend on its key and position only: not on S, its index, or the shape asked for."
    st = streams(10, seed=6)
    whole = draw_normal((10, 3, 33), st)
    alone = draw_normal((1, 99), Streams(st.keys[7:8]))
    assert torch.equal(whole[7].flatten(), alone[0])
    reordered = Streams(st.keys.flip(0))
    assert torch.equal(draw_normal((10, 99), reordered).flip(0), whole.view(10, 99))
