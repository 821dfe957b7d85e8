"""cs231n/_instructor_blas.py: in-place out += a @ b and param -= lr * grad (BLAS in float32,
else NumPy), the pool of spare arrays, and where the module may be used."""
import re
import threading
import time
import tracemalloc
from importlib import import_module
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from kit.student.regions import find_regions

from cs231n import _instructor_blas as blas

NUMPY_OPENBLAS = any(i.get("internal_api") == "openblas" and "scipy_openblas64" in i.get("filepath", "")
                     for i in threadpool_info())


def arrays(M=37, K=23, N=19, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(shape).astype(dtype) for shape in ((M, K), (K, N), (M, N)))


needs_numpy_openblas = pytest.mark.skipif(
    not NUMPY_OPENBLAS, reason="NumPy here does not use the OpenBLAS of its wheels (scipy_openblas64): "
                               "cs231n/_instructor_blas.py uses NumPy instead")


@needs_numpy_openblas
def test_numpys_own_openblas_is_found():
    assert blas._functions_or_none() is not None


@pytest.mark.parametrize("a_t", [False, True])
@pytest.mark.parametrize("b_t", [False, True])
def test_add_matmul_adds_the_product_in_place(a_t, b_t):
    a, b, out = arrays()
    a = np.ascontiguousarray(a.T).T if a_t else a  # the transpose of a C-ordered array
    b = np.ascontiguousarray(b.T).T if b_t else b
    expected = out.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
    result = blas.add_matmul(a, b, out)
    assert result is out
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def peak_of_second_call(a, b, out):
    """The peak of memory traced during add_matmul(a, b, out), once a first call has set it up."""
    blas.add_matmul(a, b, out)  # the library is looked up, and a spare array made, on first use
    tracemalloc.start()
    try:
        blas.add_matmul(a, b, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@needs_numpy_openblas
def test_add_matmul_in_float32_makes_no_temporary():
    a, b, out = arrays(M=1024, K=16, N=256)
    peak = peak_of_second_call(a, b, out)
    assert peak < out.nbytes / 4, f"peak {peak} bytes, out has {out.nbytes}"


def test_add_matmul_in_float64_is_numpys_sum_bit_for_bit():
    """What the course computes: the product first, then the sum."""
    a, b, out = arrays(dtype=np.float64)
    a = np.ascontiguousarray(a.T).T  # as X_rows.T in TwoLayerNet.loss
    expected = out + a @ b
    blas.add_matmul(a, b, out)
    np.testing.assert_array_equal(out, expected)


def test_add_matmul_in_float64_writes_the_product_into_a_spare_array():
    """After the first call, NumPy's product goes into a recycled array, not a new one."""
    a, b, out = arrays(M=1024, K=16, N=256, dtype=np.float64)
    peak = peak_of_second_call(a, b, out)
    assert peak < out.nbytes / 4, f"peak {peak} bytes, out has {out.nbytes}"


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
    blas.add_matmul(a, b, out)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_add_matmul_names_shapes_that_do_not_fit():
    a, b, out = arrays()
    with pytest.raises(ValueError, match=r"add_matmul: a \(37, 23\) @ b \(19, 23\) does not fit out"):
        blas.add_matmul(a, b.T, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_step_takes_one_step(dtype):
    rng = np.random.default_rng(2)
    param, grad = rng.standard_normal((2, 300, 7)).astype(dtype)
    expected = param - dtype(0.01) * grad
    assert blas.sgd_step(param, grad.copy(), 0.01) is param
    if dtype == np.float64:
        np.testing.assert_array_equal(param, expected)  # the course's update, bit for bit
    else:
        np.testing.assert_allclose(param, expected, rtol=1e-6, atol=1e-7)


def test_sgd_step_names_shapes_that_do_not_fit():
    with pytest.raises(ValueError, match=r"sgd_step: grad has shape \(3,\), param has \(4,\)"):
        blas.sgd_step(np.zeros(4, np.float32), np.zeros(3, np.float32), 0.1)


def test_a_library_that_disagrees_with_numpy_is_not_used():
    """The check on first use: functions that compute nothing (or anything else) are refused."""
    def sgemm_doing_nothing(*args):
        pass

    def saxpy_doing_nothing(*args):
        pass

    found = blas._functions_or_none()
    assert not blas._agrees_with_numpy(sgemm_doing_nothing, saxpy_doing_nothing)
    if found is not None:
        assert blas._agrees_with_numpy(*found)
        assert not blas._agrees_with_numpy(found[0], saxpy_doing_nothing)
        assert not blas._agrees_with_numpy(sgemm_doing_nothing, found[1])


def test_without_the_library_the_same_results_come_from_numpy(monkeypatch):
    a, b, out = arrays()
    param, grad = arrays()[2], arrays(seed=1)[2]
    with_library = blas.add_matmul(a, b, out.copy()), blas.sgd_step(param.copy(), grad.copy(), 0.1)
    monkeypatch.setattr(blas, "_functions", None)
    without = blas.add_matmul(a, b, out.copy()), blas.sgd_step(param.copy(), grad.copy(), 0.1)
    for x, y in zip(with_library, without):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------
# Spare arrays: recycle() and spare()
# ----------------------------------------------------------------------------

@pytest.fixture
def empty_pool(monkeypatch):
    monkeypatch.setattr(blas, "_pool", [])


def test_spare_hands_out_a_recycled_array_of_its_shape_and_dtype_once(empty_pool):
    a = np.empty((30, 7), np.float32)
    blas.recycle([a, np.empty(7, np.float32)])
    assert blas.spare((30, 7), np.float64) is not a  # another dtype: a new array
    assert blas.spare((7, 30), np.float32) is not a  # another shape
    assert blas.spare((30, 7), np.float32) is a
    again = blas.spare((30, 7), np.float32)  # a is the first caller's until recycled again
    assert again is not a and again.shape == (30, 7) and again.dtype == np.float32
    assert again.flags.c_contiguous


def test_only_recycled_arrays_are_handed_out(empty_pool):
    kept = np.zeros((5, 5))
    view = np.zeros((10, 5))[:5]
    read_only = np.zeros((5, 5))
    read_only.flags.writeable = False
    blas.recycle([view, read_only, np.zeros((5, 5)).T, [[0.0] * 5] * 5])
    got = blas.spare((5, 5), np.float64)
    for array in (kept, view, read_only):
        assert not np.may_share_memory(got, array)
    np.testing.assert_array_equal(kept, 0.0)


def test_an_array_recycled_twice_is_handed_out_once(empty_pool):
    a = np.empty(100)
    blas.recycle([a, a])
    blas.recycle([a])
    assert blas.spare((100,), np.float64) is a
    assert blas.spare((100,), np.float64) is not a


def test_the_pool_keeps_the_most_recently_recycled_arrays(empty_pool):
    arrays = [np.empty(i + 1) for i in range(blas.POOL_SIZE + 3)]
    blas.recycle(arrays)
    assert len(blas._pool) == blas.POOL_SIZE
    assert blas.spare((1,), np.float64) is not arrays[0]  # the oldest were dropped
    assert blas.spare((arrays[-1].size,), np.float64) is arrays[-1]


def test_threads_never_hold_the_same_array(empty_pool):
    blas.recycle([np.empty(64) for _ in range(3)])
    clashes, start = [], threading.Barrier(4)

    def work(k):
        start.wait()
        for _ in range(300):
            a = blas.spare((64,), np.float64)
            a[:] = k
            time.sleep(0)  # let the other threads run while this one holds a
            if not (a == k).all():
                clashes.append(k)
            blas.recycle([a])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not clashes


# ----------------------------------------------------------------------------
# Where the module may be used
# ----------------------------------------------------------------------------

KIT_ROOT = Path(__file__).resolve().parents[1]


def test_only_the_reference_solution_imports_it():
    """The module never ships to students: only code inside the student regions may import it."""
    users = set()
    for path in sorted(KIT_ROOT.glob("cs231n/**/*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        inside = {i for s, e in find_regions(lines) for i in range(s + 1, e)}
        for i, line in enumerate(lines):
            if re.search(r"\b_instructor_blas\b", line) and re.match(r"\s*(from|import)\b", line):
                assert i in inside, f"{path.relative_to(KIT_ROOT)}:{i + 1} imports it outside a region"
                users.add(path.relative_to(KIT_ROOT).as_posix())
    assert users == {"cs231n/classifiers/neural_net.py"}


def test_the_student_kit_leaves_it_out():
    for name in ("kit.instructor.release.manifest", "kit.instructor.manifest"):
        try:
            manifest = import_module(name)
            break
        except ImportError:
            continue
    else:
        pytest.skip("the release manifest is not where this test looks for it")
    shipped = manifest.shipped_sources(KIT_ROOT)
    assert "cs231n/classifiers/neural_net.py" in shipped
    assert "cs231n/_instructor_blas.py" not in shipped
