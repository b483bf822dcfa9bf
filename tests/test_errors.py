"""Bad input raises ValueError/TypeError with a message naming the op and the shapes."""

import numpy as np
import pytest

import tinyconv as tc
import tinyconv.nn.functional as F


def x4(*shape, dtype=np.float32):
    return tc.tensor(np.ones(shape, dtype))


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (lambda: F.conv2d(x4(28, 28), x4(6, 1, 5, 5)), ValueError,
         r"conv2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got 2-D"),
        (lambda: F.conv2d(x4(8, 1, 28, 28, 1, 1), x4(6, 1, 5, 5)), ValueError,
         r"conv2d: expected .* got 6-D input of shape \(8, 1, 28, 28, 1, 1\)"),
        (lambda: F.conv2d(x4(8, 1, 28, 28), x4(6, 3, 5, 5)), ValueError,
         r"conv2d: input has 1 channels but weight expects 3 "
         r"\(input \(8, 1, 28, 28\), weight \(6, 3, 5, 5\)\)"),
        (lambda: F.conv2d(x4(2, 6, 8, 8), x4(6, 2, 3, 3), groups=4), ValueError,
         r"conv2d: groups=4 does not divide the 6 input channels"),
        (lambda: F.conv2d(x4(2, 6, 8, 8), x4(5, 3, 3, 3), groups=2), ValueError,
         r"conv2d: groups=2 does not divide the 5 output channels"),
        (lambda: F.conv2d(x4(2, 3, 4, 4), x4(6, 3, 5, 5)), ValueError,
         r"conv2d: kernel size \(after dilation\) \(5, 5\) is larger than the padded input "
         r"\(4, 4\) \(input \(2, 3, 4, 4\), weight \(6, 3, 5, 5\)\)"),
        (lambda: F.conv2d(x4(2, 3, 6, 6), x4(6, 3, 3, 3), dilation=3), ValueError,
         r"conv2d: kernel size \(after dilation\) \(7, 7\) is larger than the padded input"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), stride=0), ValueError,
         r"conv2d: stride must be positive, got \(0, 0\)"),
        (lambda: F.conv1d(x4(2, 3, 8), x4(6, 3, 3), stride=-1), ValueError,
         r"conv1d: stride must be positive, got \(-1,\)"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), padding=-1), ValueError,
         r"conv2d: padding must be non-negative, got \(-1, -1\)"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), padding="half"), ValueError,
         r"conv2d: padding must be an int, a tuple, 'same', 'valid' or 'full'"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), stride=2, padding="same"), ValueError,
         r"conv2d: padding='same' is not supported for strided convolutions"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), groups=0), ValueError,
         r"conv2d: groups must be a positive int"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), x4(5)), ValueError,
         r"conv2d: bias must have shape \(6,\), got \(5,\)"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3)), ValueError,
         r"conv2d: weight must be 4-D, got shape \(6, 3, 3\)"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3), stride=(1, 2, 3)), TypeError,
         r"conv2d: stride must be an int or a tuple of 2 ints"),
        (lambda: F.conv2d(tc.tensor(np.ones((2, 3, 8, 8), np.int64)), x4(6, 3, 3, 3)), TypeError,
         r"conv2d: input must be float32 or float64, got int64 \(input \(2, 3, 8, 8\)\)"),
        (lambda: F.conv2d(x4(2, 3, 8, 8), x4(6, 3, 3, 3, dtype=np.float64)), TypeError,
         r"conv2d: input is float32 but weight is float64"),
        (lambda: F.conv2d(np.ones((2, 3, 8, 8)), x4(6, 3, 3, 3)), TypeError,
         r"conv2d: input must be a Tensor, got ndarray"),
        (lambda: F.conv_transpose2d(x4(2, 3, 4, 4), x4(4, 2, 3, 3)), ValueError,
         r"conv_transpose2d: input has 3 channels but weight expects 4"),
        (lambda: F.conv_transpose2d(x4(2, 4, 4, 4), x4(4, 2, 3, 3), stride=2, output_padding=2),
         ValueError, r"conv_transpose2d: output_padding \(2, 2\) must be smaller than either "
                     r"stride \(2, 2\) or dilation \(1, 1\)"),
        (lambda: F.conv_transpose2d(x4(2, 4, 1, 1), x4(4, 2, 1, 1), padding=1), ValueError,
         r"conv_transpose2d: the output size \(-1, -1\) is not positive"),
        (lambda: F.max_pool2d(x4(2, 3, 8, 8), 3, padding=2), ValueError,
         r"max_pool2d: padding \(2, 2\) should be at most half of the kernel size \(3, 3\) "
         r"\(input \(1?2?, 3, 8, 8\)\)"),
        (lambda: F.avg_pool2d(x4(2, 3, 8, 8), 2, padding=2), ValueError,
         r"avg_pool2d: padding \(2, 2\) should be at most half of the kernel size"),
        (lambda: F.max_pool2d(x4(2, 3, 8, 8), 2, stride=0), ValueError,
         r"max_pool2d: stride must be positive"),
        (lambda: F.max_pool2d(x4(2, 3, 2, 2), 3), ValueError,
         r"max_pool2d: input \(2, 3, 2, 2\) is too small for kernel \(3, 3\)"),
        (lambda: F.max_pool2d(x4(3, 8), 2), ValueError,
         r"max_pool2d: expected a 3-D \(unbatched\) or 4-D \(batched\) input, got 2-D input"),
        (lambda: F.max_pool1d(tc.tensor(np.ones((2, 3, 8), np.int32)), 2), TypeError,
         r"max_pool1d: input must be float32 or float64, got int32"),
        (lambda: F.avg_pool2d(x4(2, 3, 8, 8), 2, divisor_override=0), ValueError,
         r"avg_pool2d: divisor_override must be non-zero"),
        (lambda: F.adaptive_avg_pool2d(x4(2, 3, 8, 8), (0, 2)), ValueError,
         r"adaptive_avg_pool2d: output_size must be positive ints"),
        (lambda: F.adaptive_max_pool2d(x4(2, 3, 8, 8), (2, 2, 2)), ValueError,
         r"adaptive_max_pool2d: output_size must have 2 elements"),
        (lambda: F.max_unpool2d(x4(1, 1, 2, 2), tc.tensor(np.full((1, 1, 2, 2), 99)), 2),
         ValueError, r"max_unpool"),
        (lambda: F.max_unpool2d(x4(1, 1, 2, 2), tc.tensor(np.zeros((1, 1, 2, 2), np.int64)), 2,
                                output_size=(9, 9)), ValueError,
         r"max_unpool2d: invalid output_size \(9, 9\)"),
        (lambda: F.max_unpool2d(x4(1, 1, 2, 2), x4(1, 1, 2, 2), 2), TypeError,
         r"max_unpool2d: indices must be an integer Tensor"),
        (lambda: F.linear(x4(4, 5), x4(3, 6)), ValueError,
         r"linear: input has 5 features but weight expects 6 \(input \(4, 5\), weight \(3, 6\)\)"),
    ],
)
def test_bad_input_message(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


def test_max_unpool_index_out_of_range_names_shapes():
    with pytest.raises(ValueError) as info:
        F.max_unpool2d(x4(1, 1, 2, 2), tc.tensor(np.full((1, 1, 2, 2), 99)), 2)
    msg = str(info.value)
    assert "99" in msg and "(1, 1, 2, 2)" in msg or "16" in msg


def test_huge_stride_and_odd_shapes_do_not_crash():
    y = F.conv2d(x4(1, 1, 5, 5), x4(1, 1, 1, 1), stride=100)
    assert y.shape == (1, 1, 1, 1)
    y = F.max_pool2d(x4(1, 1, 5, 5), 1, stride=100)
    assert y.shape == (1, 1, 1, 1)
    y = F.conv_transpose2d(x4(1, 1, 1, 1), x4(1, 1, 1, 1), stride=50)
    assert y.shape == (1, 1, 1, 1)


@pytest.mark.parametrize(
    "good, bad, exc, pattern",
    [
        (dict(stride=1), dict(stride=1.0), TypeError,
         r"conv2d: stride must be an int or a tuple of 2 ints"),
        (dict(stride=(1, 1)), dict(stride=(1.0, 1)), TypeError,
         r"conv2d: stride must be an int or a tuple of 2 ints"),
        (dict(padding=(1, 0)), dict(padding=(True, 0)), TypeError,
         r"conv2d: padding must be an int or a tuple"),
        (dict(dilation=1), dict(dilation=True), TypeError,
         r"conv2d: dilation must be an int or a tuple"),
        (dict(groups=1), dict(groups=True), ValueError,
         r"conv2d: groups must be a positive int, got True"),
        (dict(groups=1), dict(groups=1.0), ValueError,
         r"conv2d: groups must be a positive int, got 1.0"),
        (dict(), dict(bias=x4(5)), ValueError, r"conv2d: bias must have shape \(6,\), got \(5,\)"),
        (dict(), dict(bias=np.ones(6, np.float32)), TypeError, r"conv2d: bias must be a Tensor"),
        (dict(), dict(input=np.ones((2, 3, 8, 8), np.float32)), TypeError,
         r"conv2d: input must be a Tensor, got ndarray"),
        (dict(), dict(weight=x4(6, 3, 3, 3, dtype=np.float64)), TypeError,
         r"conv2d: input is float32 but weight is float64"),
        (dict(), dict(input=x4(2, 3, 2, 2)), ValueError,
         r"conv2d: kernel size \(after dilation\) \(3, 3\) is larger than the padded input"),
    ],
)
def test_conv_checks_survive_the_plan_cache(good, bad, exc, pattern):
    """conv keeps the validated geometry of each call signature (ops/conv.py _PLANS). A value
    that equals a cached one (True == 1 == 1.0) but is not valid must still raise."""
    args = dict(input=x4(2, 3, 8, 8), weight=x4(6, 3, 3, 3), bias=x4(6), stride=1, padding=0,
                dilation=1, groups=1)
    for _ in range(2):
        F.conv2d(**dict(args, **good))
    with pytest.raises(exc, match=pattern):
        F.conv2d(**dict(args, **bad))


def test_conv_plan_follows_changed_layer_attributes():
    """A layer's stride/padding changed after a call take effect (the plan is keyed by value),
    numpy integers and lists are accepted as before, and the plan cache stays bounded."""
    from tinyconv.ops import conv as conv_ops

    layer = tc.nn.Conv2d(3, 4, 3)
    x = x4(2, 3, 8, 8)
    assert layer(x).shape == (2, 4, 6, 6)
    layer.padding = (1, 1)
    assert layer(x).shape == (2, 4, 8, 8)
    layer.stride = (2, 2)
    assert layer(x).shape == (2, 4, 4, 4)
    w = layer.weight
    ref = F.conv2d(x, w, stride=2, padding=1)
    for s, p in ((np.int64(2), np.int32(1)), ([2, 2], [1, 1]), ((np.int64(2), 2), 1)):
        np.testing.assert_array_equal(F.conv2d(x, w, stride=s, padding=p).numpy(), ref.numpy())
    for n in range(conv_ops._PLANS_MAX + 5):
        F.conv1d(x4(1, 1, 3 + n), x4(1, 1, 3))
    assert len(conv_ops._PLANS) <= conv_ops._PLANS_MAX
