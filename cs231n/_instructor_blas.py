"""In-place BLAS updates for the float32 training path, and spare arrays to write into.

Only the reference solution of cs231n/classifiers/neural_net.py uses this
module, from inside its student regions; like every module whose name starts
with ``_instructor``, it is not part of the student kit.

- add_matmul(a, b, out): ``out += a @ b``; sgd_step(param, grad, lr):
  ``param -= lr * grad``.

  NumPy has no in-place form of either: ``out += a @ b`` writes the product to
  a new array and then adds it, and ``y += alpha * x`` makes ``alpha * x``
  first. For the first layer of a two-layer net (a D x H array, 6 MB at
  H = 500 in float32) each of those extra passes over memory costs about a
  fifth of a millisecond, a large part of what an iteration spends outside its
  matrix products. BLAS does both in one pass: gemm with beta = 1 adds the
  product to what ``out`` holds, and axpy adds a multiple of ``x`` to ``y``.

  This module calls the BLAS that NumPy itself uses, when it is the OpenBLAS
  of NumPy's wheels (found with threadpoolctl; its 64-bit-integer CBLAS
  functions ``scipy_cblas_sgemm64_`` and ``scipy_cblas_saxpy64_``), for
  float32 arrays in C or transposed-C order. Everything else (float64, other
  layouts, another BLAS) runs in NumPy, with the same result up to rounding;
  float64 is never sent to BLAS here, so float64 results stay those of plain
  NumPy, bit for bit. The library is looked up on first use and checked on a
  small example against NumPy; if anything differs, this module uses NumPy
  from then on.

- recycle(arrays) and spare(shape, dtype): a small pool of arrays that their
  owner no longer needs. A new D x H array at every training iteration costs
  page faults that take about as long as the matrix product written into it;
  train() hands its spent gradients back with recycle(), and loss() writes the
  next dW1 into spare(W1.shape, dtype), which takes one of them or makes a new
  array. Only arrays given to recycle() are ever handed out again, each to one
  caller at a time, so an array that a caller keeps is never overwritten. The
  pool is shared by the whole process (threads included) and holds at most
  POOL_SIZE arrays, the most recently recycled.
"""
import ctypes
import threading

import numpy as np

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_UNSET = object()
_functions = _UNSET


def _find_functions():
    """(sgemm, saxpy) of NumPy's own OpenBLAS as ctypes functions, or None."""
    try:
        from threadpoolctl import threadpool_info
        infos = threadpool_info()
    except Exception:  # threadpoolctl missing or unable to inspect this process
        return None
    i64, f32, ptr = ctypes.c_int64, ctypes.c_float, ctypes.c_void_p
    for info in infos:
        if info.get("internal_api") != "openblas" or not info.get("filepath"):
            continue
        try:
            lib = ctypes.CDLL(info["filepath"])
            sgemm, saxpy = lib.scipy_cblas_sgemm64_, lib.scipy_cblas_saxpy64_
        except (OSError, AttributeError):  # another OpenBLAS build, without these symbols
            continue
        sgemm.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, i64, i64, i64,
                          f32, ptr, i64, ptr, i64, f32, ptr, i64]
        sgemm.restype = None
        saxpy.argtypes = [i64, f32, ptr, i64, ptr, i64]
        saxpy.restype = None
        if _agrees_with_numpy(sgemm, saxpy):
            return sgemm, saxpy
    return None


def _agrees_with_numpy(sgemm, saxpy):
    """Whether the two functions give NumPy's results on small float32 examples."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3)).astype(np.float32)
    b = rng.standard_normal((5, 4)).astype(np.float32)
    out = rng.standard_normal((3, 4)).astype(np.float32)
    expected = out + a.T @ b
    _gemm(sgemm, a.T, b, out)
    x = rng.standard_normal(7).astype(np.float32)
    y = rng.standard_normal(7).astype(np.float32)
    y_expected = y + np.float32(0.5) * x
    _axpy(saxpy, 0.5, x, y)
    return np.allclose(out, expected, rtol=1e-5, atol=1e-6) and np.allclose(y, y_expected, rtol=1e-6)


def _functions_or_none():
    global _functions
    if _functions is _UNSET:
        _functions = _find_functions()
    return _functions


def _blas_layout(m):
    """(transposed, leading dimension) of a 2-D float32 matrix BLAS can read in place, or None."""
    if m.flags.c_contiguous:
        return False, max(m.shape[1], 1)
    if m.flags.f_contiguous:  # the transpose of a C-ordered matrix, such as X.T
        return True, max(m.shape[0], 1)
    return None


def _gemm(sgemm, a, b, out):
    """out += a @ b with sgemm (beta = 1); the caller has checked the arrays."""
    (ta, lda), (tb, ldb) = _blas_layout(a), _blas_layout(b)
    M, K = a.shape
    N = b.shape[1]
    sgemm(_ROW_MAJOR, _TRANS if ta else _NO_TRANS, _TRANS if tb else _NO_TRANS, M, N, K,
          1.0, a.ctypes.data, lda, b.ctypes.data, ldb, 1.0, out.ctypes.data, max(N, 1))


def _axpy(saxpy, alpha, x, y):
    """y += alpha * x with saxpy; the caller has checked the arrays."""
    saxpy(y.size, float(alpha), x.ctypes.data, 1, y.ctypes.data, 1)


def _all_float32(*arrays):
    return all(isinstance(m, np.ndarray) and m.dtype == np.float32 for m in arrays)


def add_matmul(a, b, out):
    """
    Add the matrix product a @ b to out, in place.

    Inputs:
    - a: Array of shape (M, K).
    - b: Array of shape (K, N).
    - out: Array of shape (M, N) that the product is added to.

    Returns:
    - out, holding out + a @ b. In float32, with a and b each in C order or
      the transpose of an array in C order, and out in C order, this is one
      BLAS call and no temporary; otherwise NumPy computes a @ b into a spare
      array of the product's dtype (see spare; it is recycled afterwards) and
      adds it: the same sum as ``out += a @ b``, bit for bit.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or out.shape != (a.shape[0], b.shape[1]):
        raise ValueError(f"add_matmul: a {a.shape} @ b {b.shape} does not fit out {out.shape}")
    functions = _functions_or_none()
    if (functions is not None and _all_float32(a, b, out) and min(out.shape) > 0 and a.shape[1] > 0
            and out.flags.c_contiguous and out.flags.writeable and out.flags.aligned
            and a.flags.aligned and b.flags.aligned
            and _blas_layout(a) is not None and _blas_layout(b) is not None
            and not np.may_share_memory(out, a) and not np.may_share_memory(out, b)):
        _gemm(functions[0], a, b, out)
        return out
    product = np.matmul(a, b, out=spare(out.shape, np.result_type(a, b)))
    out += product
    recycle([product])
    return out


def sgd_step(param, grad, learning_rate):
    """
    One step of gradient descent on param, in place: param -= learning_rate * grad.

    Inputs:
    - param: Array of parameters, updated in place.
    - grad: Array of the same shape: its gradient. Its values are not needed
      afterwards: where NumPy makes the step, grad is overwritten with
      learning_rate * grad (so that no new array is made); BLAS leaves it as is.
    - learning_rate: Scalar step size.

    Returns:
    - param. In float32 with both arrays in C order this is one BLAS call
      (axpy); otherwise NumPy computes param - (learning_rate * grad).
    """
    if param.shape != grad.shape:
        raise ValueError(f"sgd_step: grad has shape {grad.shape}, param has {param.shape}")
    functions = _functions_or_none()
    if (functions is not None and _all_float32(param, grad) and param.size > 0
            and param.flags.c_contiguous and param.flags.writeable and grad.flags.c_contiguous
            and param.flags.aligned and grad.flags.aligned and not np.may_share_memory(param, grad)):
        _axpy(functions[1], -float(learning_rate), grad, param)
        return param
    grad *= learning_rate
    param -= grad
    return param


# ----------------------------------------------------------------------------
# Spare arrays
# ----------------------------------------------------------------------------

#: The most arrays the pool holds; recycling more drops the oldest. A training
#: iteration recycles four gradients (and, in float64, the product's scratch
#: array), so the pool keeps the two D x H arrays that the next one asks for.
POOL_SIZE = 8
_pool = []  # oldest first
_pool_lock = threading.Lock()


def recycle(arrays):
    """
    Hand arrays that are no longer needed to the pool, for spare() to reuse.

    The caller promises that nothing reads or writes them afterwards: spare()
    may give any of them to the next caller that asks for its shape and dtype.
    Arrays that are views of others, read-only or not in C order are not kept;
    only the POOL_SIZE most recently recycled arrays are.

    Inputs:
    - arrays: Iterable of arrays, e.g. grads.values() after an SGD step.
    """
    with _pool_lock:
        for array in arrays:
            if (isinstance(array, np.ndarray) and array.base is None and array.flags.writeable
                    and array.flags.c_contiguous and not any(array is p for p in _pool)):
                _pool.append(array)
        del _pool[:-POOL_SIZE]


def spare(shape, dtype):
    """
    An array to overwrite: a recycled one of this shape and dtype, or a new one.

    Inputs:
    - shape: Tuple, the shape of the array.
    - dtype: Its dtype.

    Returns:
    - An array of that shape and dtype in C order, with arbitrary contents (as
      np.empty). It is the caller's alone: the pool forgets it until it is
      recycled again.
    """
    shape, dtype = tuple(shape), np.dtype(dtype)
    with _pool_lock:
        for i in range(len(_pool) - 1, -1, -1):  # the most recently recycled first
            if _pool[i].shape == shape and _pool[i].dtype == dtype:
                return _pool.pop(i)
    return np.empty(shape, dtype=dtype)
