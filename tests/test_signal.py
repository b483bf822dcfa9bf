"""tinyconv.signal: convolve / correlate against numpy (1-D), scipy (2-D, when installed), a
direct-sum reference, and the textbooks' worked examples."""

import itertools

import numpy as np
import pytest

import tinyconv as tc
from tinyconv import signal

MODES = ("full", "same", "valid")


# ----------------------------------------------------------------------------- reference

def ref_full_correlate(a, k):
    """Full cross-correlation by direct sums: out[i] = sum_j a[i + j - (k - 1)] * k[j]."""
    a, k = np.atleast_2d(a), np.atleast_2d(k)
    (M1, M2), (K1, K2) = a.shape, k.shape
    out = np.zeros((M1 + K1 - 1, M2 + K2 - 1))
    for i1, i2 in itertools.product(range(out.shape[0]), range(out.shape[1])):
        for j1, j2 in itertools.product(range(K1), range(K2)):
            p1, p2 = i1 + j1 - (K1 - 1), i2 + j2 - (K2 - 1)
            if 0 <= p1 < M1 and 0 <= p2 < M2:
                out[i1, i2] += a[p1, p2] * k[j1, j2]
    return out


def ref(a, k, mode, convolve):
    """scipy.signal.convolve / correlate (2-D) from the definitions, without scipy."""
    a, k = np.asarray(a, float), np.asarray(k, float)
    nd = a.ndim
    swapped = False
    if mode == "valid" and not all(i >= j for i, j in zip(a.shape, k.shape)):
        a, k, swapped = k, a, True
    full = ref_full_correlate(a, k[::-1, ::-1] if (convolve and nd == 2) else
                              (k[::-1] if convolve else k))
    if nd == 1:
        full = full[0]
    if mode == "full":
        out = full
    elif mode == "valid":
        sl = tuple(slice(kk - 1, n) for kk, n in zip(k.shape, a.shape))
        out = full[sl]
    else:
        sl = tuple(slice((kk - 1) // 2, (kk - 1) // 2 + n) for kk, n in zip(k.shape, a.shape))
        out = full[sl]
    if swapped and not convolve:
        out = out[(slice(None, None, -1),) * nd]
    return out


# ----------------------------------------------------------------------------- 1-D: numpy

LENGTHS = [(7, 3), (7, 4), (3, 7), (4, 7), (5, 5), (6, 1), (1, 6), (1, 1), (2, 9)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("m,n", LENGTHS)
def test_1d_matches_numpy(m, n, mode):
    rng = np.random.default_rng(m * 10 + n)
    a, v = rng.standard_normal(m), rng.standard_normal(n)
    out = signal.convolve(a, v, mode)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, np.convolve(a, v, mode), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(signal.correlate(a, v, mode), np.correlate(a, v, mode),
                               rtol=1e-12, atol=1e-12)


def test_1d_default_mode_is_full_and_ints_become_float64():
    out = signal.convolve([1, 2, 3], [0, 1, 0.5])
    np.testing.assert_array_equal(out, [0, 1, 2.5, 4, 1.5])
    c = signal.correlate(np.array([1, 2, 3]), np.array([0, 1]))
    assert c.dtype == np.float64
    np.testing.assert_array_equal(c, np.correlate([1, 2, 3], [0, 1], "full"))


# ----------------------------------------------------------------------------- 2-D

SHAPES = [((7, 6), (3, 2)), ((3, 2), (7, 6)), ((5, 4), (2, 6)), ((4, 5), (4, 5)),
          ((2, 3), (5, 6)), ((6, 5), (3, 3)), ((5, 5), (1, 1)), ((1, 4), (1, 2)),
          ((3, 3), (4, 4))]


def _cases():
    for (s1, s2), mode in itertools.product(SHAPES, MODES):
        ok = all(i >= j for i, j in zip(s1, s2)) or all(j >= i for i, j in zip(s1, s2))
        if mode != "valid" or ok:
            yield s1, s2, mode


CASES_2D = list(_cases())


@pytest.mark.parametrize("s1,s2,mode", CASES_2D)
def test_2d_matches_direct_sums(s1, s2, mode):
    rng = np.random.default_rng(0)
    a, k = rng.standard_normal(s1), rng.standard_normal(s2)
    np.testing.assert_allclose(signal.convolve(a, k, mode), ref(a, k, mode, True),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(signal.correlate(a, k, mode), ref(a, k, mode, False),
                               rtol=1e-12, atol=1e-12)


def test_reference_matches_numpy_in_1d():
    # the direct-sum reference implements the same rules as numpy (checks the checker)
    rng = np.random.default_rng(1)
    for (m, n), mode in itertools.product([(7, 3), (6, 4), (5, 5)], MODES):
        a, v = rng.standard_normal(m), rng.standard_normal(n)
        np.testing.assert_allclose(ref(a, v, mode, True), np.convolve(a, v, mode), atol=1e-12)
        np.testing.assert_allclose(ref(a, v, mode, False), np.correlate(a, v, mode), atol=1e-12)


@pytest.mark.parametrize("s1,s2,mode", CASES_2D)
def test_2d_matches_scipy(s1, s2, mode):
    ss = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(2)
    a, k = rng.standard_normal(s1), rng.standard_normal(s2)
    tol = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(signal.convolve(a, k, mode), ss.convolve2d(a, k, mode), **tol)
    np.testing.assert_allclose(signal.convolve(a, k, mode),
                               ss.convolve(a, k, mode, method="direct"), **tol)
    np.testing.assert_allclose(signal.correlate(a, k, mode),
                               ss.correlate(a, k, mode, method="direct"), **tol)
    if mode != "same" or all(n % 2 for n in s2):
        # correlate2d centres 'same' differently for even kernel sizes (see tinyconv.signal)
        np.testing.assert_allclose(signal.correlate(a, k, mode), ss.correlate2d(a, k, mode),
                                   **tol)


def test_1d_matches_scipy_where_numpy_and_scipy_agree():
    ss = pytest.importorskip("scipy.signal")
    rng = np.random.default_rng(3)
    a, v = rng.standard_normal(9), rng.standard_normal(4)
    for mode in MODES:
        np.testing.assert_allclose(signal.convolve(a, v, mode), ss.convolve(a, v, mode),
                                   atol=1e-12)
        np.testing.assert_allclose(signal.correlate(a, v, mode), ss.correlate(a, v, mode),
                                   atol=1e-12)


# ----------------------------------------------------------------------------- textbook examples

def test_vertical_edge_detector():
    # 6x6 image, bright (10) left half, dark (0) right half; the vertical edge filter
    image = np.zeros((6, 6))
    image[:, :3] = 10
    edge = np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]])
    out = signal.correlate(image, edge, "valid")
    expected = np.tile([0, 30, 30, 0], (4, 1))
    np.testing.assert_array_equal(out, expected)
    # true convolution flips the filter: the same band with the opposite sign
    np.testing.assert_array_equal(signal.convolve(image, edge, "valid"), -expected)


def gaussian(size, sigma):
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def test_gaussian_smoothing():
    rng = np.random.default_rng(4)
    noisy = 5.0 + rng.standard_normal((40, 40))
    smooth = signal.convolve(noisy, gaussian(5, 1.0), "same")
    assert smooth.shape == noisy.shape
    inner = (slice(2, -2), slice(2, -2))            # away from the zero-padded border
    assert smooth[inner].var() < 0.25 * noisy[inner].var()
    assert abs(smooth[inner].mean() - noisy[inner].mean()) < 0.05

    impulse = np.zeros((9, 9))
    impulse[4, 4] = 1.0
    response = signal.convolve(impulse, gaussian(5, 1.0), "same")
    assert response.sum() == pytest.approx(1.0, abs=1e-12)      # 'same' keeps the mass
    np.testing.assert_allclose(response[2:7, 2:7], gaussian(5, 1.0), atol=1e-15)


def test_checkerboard_gives_zeros():
    board = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]])
    kernel = np.array([[1, 0], [0, -1]])
    for fn in (signal.correlate, signal.convolve):
        out = fn(board, kernel, "valid")
        assert out.shape == (2, 2)
        np.testing.assert_array_equal(out, np.zeros((2, 2)))


# ----------------------------------------------------------------------------- tensors

def test_tensor_in_tensor_out_with_gradients():
    rng = np.random.default_rng(5)
    a = tc.tensor(rng.standard_normal((6, 5)), requires_grad=True)
    k = tc.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    for fn, mode in itertools.product((signal.convolve, signal.correlate), MODES):
        out = fn(a, k, mode)
        assert isinstance(out, tc.Tensor)
        np.testing.assert_allclose(out.numpy(), fn(a.numpy(), k.numpy(), mode), atol=1e-12)
        assert tc.gradcheck(lambda x, y: fn(x, y, mode), [a, k])
    # swapped roles (in2 larger) differentiate too
    small = tc.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    assert tc.gradcheck(lambda x, y: signal.correlate(x, y, "valid"), [small, a])
    v1 = tc.tensor(rng.standard_normal(3), requires_grad=True)
    v2 = tc.tensor(rng.standard_normal(7), requires_grad=True)
    assert tc.gradcheck(lambda x, y: signal.correlate(x, y, "same"), [v1, v2])


def test_dtypes():
    a32 = np.ones((4, 4), np.float32)
    assert signal.convolve(a32, np.ones((2, 2), np.float32)).dtype == np.float32
    assert signal.convolve(a32, np.ones((2, 2))).dtype == np.float64
    assert signal.convolve(tc.ones(5), tc.ones(2)).dtype == np.float32
    assert signal.convolve(tc.ones(5), np.ones(2, np.float32)).dtype == np.float32
    # as numpy promotes: anything but float32 with float32 (ints included) gives float64
    assert signal.convolve(tc.ones(5), [1, 2]).dtype == np.float64
    assert signal.correlate(tc.ones(5), np.ones(2)).dtype == np.float64
    assert signal.correlate([True, False], [1, 2]).dtype == np.float64
    np.testing.assert_allclose(signal.convolve(tc.ones(5), [1, 2]).numpy(), [1, 3, 3, 3, 3, 2])


# ----------------------------------------------------------------------------- errors

def test_errors():
    with pytest.raises(ValueError, match="convolve: mode must be 'full', 'same' or 'valid', "
                                         "got 'circular'"):
        signal.convolve([1, 2], [1], "circular")
    with pytest.raises(ValueError, match=r"correlate: in1 and in2 must both be 1-D or both 2-D, "
                                         r"got shapes \(3,\) and \(2, 2\)"):
        signal.correlate([1, 2, 3], np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"convolve: in1 and in2 must both be 1-D or both 2-D, "
                                         r"got shapes \(2, 2, 2\)"):
        signal.convolve(np.ones((2, 2, 2)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"convolve: in2 is empty \(shape \(0,\)\)"):
        signal.convolve([1, 2], [])
    with pytest.raises(ValueError, match=r"correlate: for 'valid' mode one input must be at "
                                         r"least as large as the other in every dimension, got "
                                         r"shapes \(5, 4\) and \(2, 6\)"):
        signal.correlate(np.ones((5, 4)), np.ones((2, 6)), "valid")
    with pytest.raises(TypeError, match="convolve: complex inputs are not supported"):
        signal.convolve(np.ones(3, complex), [1, 2])
    with pytest.raises(TypeError, match="correlate: in2 must be a real numeric array"):
        signal.correlate([1, 2], ["a", "b"])
