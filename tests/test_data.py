import numpy as np
import pytest

from rnnexp.tasks.addition import data


@pytest.mark.parametrize("order", data.ORDERS)
@pytest.mark.parametrize("bits", [2, 8, 16, 63])
def test_decoded_target_is_the_sum(order, bits):
    rng = np.random.default_rng(bits)
    a = data.sample_operands(rng, (500,), bits)
    b = data.sample_operands(rng, (500,), bits)
    x, y = data.encode(a, b, order)
    assert x.shape == (bits, 500, 2) and y.shape == (bits, 500)
    ia, ib = data.decode(x[..., 0], order), data.decode(x[..., 1], order)
    assert (ia < 2 ** (bits - 1)).all() and (ib < 2 ** (bits - 1)).all()
    np.testing.assert_array_equal(data.decode(y, order), ia + ib)


def test_msb_is_lsb_reversed_in_time():
    rng = np.random.default_rng(0)
    a, b = data.sample_operands(rng, (50,), 8), data.sample_operands(rng, (50,), 8)
    xl, yl = data.encode(a, b, "lsb")
    xm, ym = data.encode(a, b, "msb")
    np.testing.assert_array_equal(xm, xl[::-1])
    np.testing.assert_array_equal(ym, yl[::-1])
    assert (xl[-1] == 0).all()  # the top operand bit is always 0: the sum fits


def test_all_problems_is_every_pair_once():
    a, b = data.all_problems(8)
    assert a.shape == (16384, 8)
    pairs = data.decode(np.moveaxis(a, -1, 0), "lsb") * 128 + data.decode(np.moveaxis(b, -1, 0), "lsb")
    np.testing.assert_array_equal(np.sort(pairs), np.arange(16384))


def test_eval_set_is_exhaustive_up_to_9_bits_then_a_fixed_sample():
    x, y = data.eval_set(9, "lsb")
    assert x.shape == (9, 65536, 2)
    x1, _ = data.eval_set(12, "msb")
    x2, _ = data.eval_set(12, "msb")
    assert x1.shape == (12, data.HELDOUT_SIZE, 2)
    np.testing.assert_array_equal(x1, x2)


def test_operands_are_uniform():
    a = data.sample_operands(np.random.default_rng(1), (200_000,), 4)
    counts = np.bincount(data.decode(np.moveaxis(a, -1, 0), "lsb").astype(int), minlength=8)
    assert counts.size == 8 and (abs(counts / counts.sum() - 1 / 8) < 0.005).all()


def test_batches_of_a_replica_do_not_depend_on_the_others():
    def stream(seeds):
        bt = data.Batches([np.random.default_rng(s) for s in seeds], 8, "lsb", 4)
        return [bt.next(i) for i in range(100)]

    together, alone = stream([10, 11, 12]), stream([11])
    for (xt, yt), (xa, ya) in zip(together, alone):
        assert xt.shape == (8, 3, 4, 2) and yt.shape == (8, 3, 4)
        np.testing.assert_array_equal(xt[:, 1], xa[:, 0])
        np.testing.assert_array_equal(yt[:, 1], ya[:, 0])


def test_fixed_training_set_repeats_in_order_each_epoch():
    bt = data.Batches([np.random.default_rng(0)], 8, "msb", 2, train_size=6)
    first = [bt.next(i)[0] for i in range(3)]
    second = [bt.next(i)[0] for i in range(3, 6)]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])


def test_bad_order_is_refused():
    with pytest.raises(ValueError, match="order='up'"):
        data.encode(np.zeros((1, 4), np.int8), np.zeros((1, 4), np.int8), "up")
