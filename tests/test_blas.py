"""cs231n/_blas.py: in-place out += a @ b and param -= lr * grad, in BLAS for float32, else NumPy."""
import tracemalloc

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cs231n import _blas

NUMPY_OPENBLAS = any(i.get("internal_api") == "openblas" and "scipy_openblas64" in i.get("filepath", "")
                     for i in threadpool_info())


def arrays(M=37, K=23, N=19, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in ((M, K), (K, N), (M, N)))


needs_numpy_openblas = pytest.mark.skipif(
    not NUMPY_OPENBLAS, reason="NumPy here does not use the OpenBLAS of its wheels (scipy_openblas64): "
                               "cs231n/_blas.py uses NumPy instead")


@needs_numpy_openblas
def test_numpys_own_openblas_is_found():
    assert _blas._functions_or_none() is not None


@pytest.mark.parametrize("a_t", [False, True])
@pytest.mark.parametrize("b_t", [False, True])
def test_add_matmul_adds_the_product_in_place(a_t, b_t):
    a, b, out = arrays()
    a = np.ascontiguousarray(a.T).T if a_t else a  # the transpose of a C-ordered array
    b = np.ascontiguousarray(b.T).T if b_t else b
    expected = out.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    result = _blas.add_matmul(a, b, out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@needs_numpy_openblas
def test_add_matmul_in_float32_makes_no_temporary():
    a, b, out = arrays(M=1024, K=16, N=256)
    _blas.add_matmul(a, b, out)  # the library is looked up on first use
    tracemalloc.start()
    try:
        _blas.add_matmul(a, b, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < out.nbytes / 4, f"peak {peak} bytes, out has {out.nbytes}"


def test_add_matmul_in_float64_is_numpys_sum_bit_for_bit():
    """What the course computes: the product first, then the sum."""
    a, b, out = arrays(dtype=np.float64)
    a = np.ascontiguousarray(a.T).T  # as X_rows.T in TwoLayerNet.loss
    expected = out + a @ b
    _blas.add_matmul(a, b, out, scratch=np.empty_like(out))
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("layout", ["strided rows", "out shares memory with a", "mixed dtypes"])
def test_add_matmul_falls_back_to_numpy_where_blas_cannot_read_in_place(layout):
    rng = np.random.default_rng(1)
    if layout == "strided rows":
        a, b, out = rng.standard_normal((40, 9)).astype(np.float32)[::2], *arrays(M=20, K=9, N=5)[1:]
    elif layout == "out shares memory with a":
        out = rng.standard_normal((6, 6)).astype(np.float32)
        a, b = out, rng.standard_normal((6, 6)).astype(np.float32)
    else:
        a, b, out = arrays()
        b = b.astype(np.float64)
    expected = out.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    _blas.add_matmul(a, b, out)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_add_matmul_names_shapes_that_do_not_fit():
    a, b, out = arrays()
    with pytest.raises(ValueError, match=r"add_matmul: a \(37, 23\) @ b \(19, 23\) does not fit out"):
        _blas.add_matmul(a, b.T, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_step_takes_one_step(dtype):
    rng = np.random.default_rng(2)
    param, grad = rng.standard_normal((2, 300, 7)).astype(dtype)
    expected = param - dtype(0.01) * grad
    assert _blas.sgd_step(param, grad.copy(), 0.01) is param
    if dtype == np.float64:
        np.testing.assert_array_equal(param, expected)  # the course's update, bit for bit
    else:
        np.testing.assert_allclose(param, expected, rtol=1e-6, atol=1e-7)


def test_sgd_step_names_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"sgd_step: grad has shape \(3,\), param has \(4,\)"):
        _blas.sgd_step(np.zeros(4, np.float32), np.zeros(3, np.float32), 0.1)


def test_a_library_that_disagrees_with_numpy_is_not_used():
    """The check on first use: functions that compute nothing (or anything else) are refused."""
    def sgemm_doing_nothing(*args):
        pass

    def saxpy_doing_nothing(*args):
        pass

    found = _blas._functions_or_none()
    assert not _blas._agrees_with_numpy(sgemm_doing_nothing, saxpy_doing_nothing)
    if found is not None:
        assert _blas._agrees_with_numpy(*found)
        assert not _blas._agrees_with_numpy(found[0], saxpy_doing_nothing)
        assert not _blas._agrees_with_numpy(sgemm_doing_nothing, found[1])


def test_without_the_library_the_same_results_come_from_numpy(monkeypatch):
    a, b, out = arrays()
    param, grad = arrays()[2], arrays(seed=1)[2]
    with_blas = _blas.add_matmul(a, b, out.copy()), _blas.sgd_step(param.copy(), grad.copy(), 0.1)
    monkeypatch.setattr(_blas, "_functions", None)
    without = _blas.add_matmul(a, b, out.copy()), _blas.sgd_step(param.copy(), grad.copy(), 0.1)
    for x, y in zip(with_blas, without):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
