"""Loading CIFAR-10: course results, any batch size, and the uint8 .npy cache."""
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cs231n import _atomic, data_utils  # noqa: E402
from cs231n._atomic import atomic_write  # noqa: E402
from cs231n.data_utils import (DatasetNotFoundError, get_CIFAR10_data,  # noqa: E402
                               load_CIFAR10, load_CIFAR_batch)

MIRROR = Path(__file__).resolve().parents[2] / "shared" / "cifar10-mirror"
TRAIN_ROWS = [7, 5, 3, 4, 6]
TEST_ROWS = 5


# ----------------------------------------------------------------------------
# Helpers: tiny batches in the official format, and the course's own loader
# ----------------------------------------------------------------------------

def write_batch(path, rows, seed):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(rows, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=rows).tolist()
    with open(path, "wb") as f:
        pickle.dump({"data": data, "labels": labels, "batch_label": "fake"}, f, protocol=2)


@pytest.fixture
def root(tmp_path):
    """A dataset folder with batches of 7, 5, 3, 4, 6 training rows and 5 test rows."""
    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    for b, rows in enumerate(TRAIN_ROWS, start=1):
        write_batch(d / f"data_batch_{b}", rows, seed=b)
    write_batch(d / "test_batch", TEST_ROWS, seed=99)
    return d


def classic_batch(filename):
    """The course's loader: unpickle, reshape, transpose, float64."""
    with open(filename, "rb") as f:
        datadict = pickle.load(f, encoding="latin1")
    X = np.asarray(datadict["data"]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype("float")
    return X, np.array(datadict["labels"])


def classic_data(root, num_training, num_validation, num_test, subtract_mean=True):
    """The course's get_CIFAR10_data on the classic loader."""
    parts = [classic_batch(root / f"data_batch_{b}") for b in range(1, 6)]
    X = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    Xte, yte = classic_batch(root / "test_batch")
    X_val, y_val = X[num_training:num_training + num_validation], \
        y[num_training:num_training + num_validation]
    X_train, y_train = X[:num_training], y[:num_training]
    X_test, y_test = Xte[:num_test], yte[:num_test]
    if subtract_mean:
        mean = np.mean(X_train, axis=0)
        X_train, X_val, X_test = X_train - mean, X_val - mean, X_test - mean
    first = lambda a: a.transpose(0, 3, 1, 2).copy()  # noqa: E731
    return {"X_train": first(X_train), "y_train": y_train, "X_val": first(X_val),
            "y_val": y_val, "X_test": first(X_test), "y_test": y_test}


def assert_same(got, want):
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].shape == want[k].shape, k
        assert got[k].dtype == want[k].dtype, k
        assert np.array_equal(got[k], want[k]), k


def cache_files(root):
    cache = Path(root) / data_utils.CACHE_DIRNAME
    return sorted(os.listdir(cache)) if cache.is_dir() else []


# ----------------------------------------------------------------------------
# Course results
# ----------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_batches_of_any_row_count(root):
    Xtr, Ytr, Xte, Yte = load_CIFAR10(str(root))
    assert Xtr.shape == (sum(TRAIN_ROWS), 32, 32, 3) and Xtr.dtype == np.float64
    assert Ytr.shape == (sum(TRAIN_ROWS),) and Ytr.dtype == np.int64
    assert Xte.shape == (TEST_ROWS, 32, 32, 3) and Yte.shape == (TEST_ROWS,)
    X, Y = load_CIFAR_batch(str(root / "data_batch_3"))
    assert X.shape == (3, 32, 32, 3) and Y.shape == (3,)
    assert np.array_equal(X, classic_batch(root / "data_batch_3")[0])


@pytest.mark.timeout(30)
@pytest.mark.parametrize("sizes, subtract_mean", [
    ((18, 4, 3), True),
    ((9, 10, 5), True),   # validation spans three batches
    ((20, 5, 5), False),
])
def test_same_results_as_the_course_loader_cold_and_warm(root, sizes, subtract_mean):
    want = classic_data(root, *sizes, subtract_mean=subtract_mean)
    for _ in range(2):  # first builds the cache, then reads it
        got = get_CIFAR10_data(*sizes, subtract_mean=subtract_mean, cifar10_dir=str(root))
        assert_same(got, want)
        for v in got.values():
            assert not isinstance(v, np.memmap) and v.flags.writeable and v.flags.c_contiguous


@pytest.mark.timeout(30)
def test_split_shrinks_with_a_notice(root, capsys):
    data = get_CIFAR10_data(cifar10_dir=str(root))
    total = sum(TRAIN_ROWS)
    assert len(data["X_val"]) == total // 2 and len(data["X_train"]) == total - total // 2
    assert len(data["X_test"]) == TEST_ROWS
    assert "Notice: the dataset holds 25 training and 5 test images" in capsys.readouterr().out


@pytest.mark.timeout(30)
def test_missing_dataset_says_how_to_fetch_it(tmp_path, places):
    with pytest.raises(DatasetNotFoundError, match="get_datasets.py"):
        get_CIFAR10_data(cifar10_dir=str(tmp_path / "nowhere"))
    with pytest.raises(DatasetNotFoundError, match="data_batch_9"):
        load_CIFAR_batch(str(tmp_path / "data_batch_9"))


# ----------------------------------------------------------------------------
# dtype
# ----------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_float32(root):
    want = classic_data(root, 18, 4, 3)
    got = get_CIFAR10_data(18, 4, 3, cifar10_dir=str(root), dtype=np.float32)
    for k in ("X_train", "X_val", "X_test"):
        assert got[k].dtype == np.float32
        np.testing.assert_allclose(got[k], want[k], rtol=0, atol=1e-4)
    Xtr, _, Xte, _ = load_CIFAR10(str(root), dtype="float32")
    assert Xtr.dtype == Xte.dtype == np.float32
    assert np.array_equal(Xtr, np.concatenate(
        [classic_batch(root / f"data_batch_{b}")[0] for b in range(1, 6)]))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("dtype", [np.int32, "uint8", "not a dtype"])
def test_non_float_dtype_is_refused(root, dtype):
    with pytest.raises(TypeError, match="dtype must be a floating-point dtype"):
        get_CIFAR10_data(cifar10_dir=str(root), dtype=dtype)


# ----------------------------------------------------------------------------
# The cache
# ----------------------------------------------------------------------------

@pytest.mark.timeout(30)
def test_cache_is_created_then_memory_mapped(root, monkeypatch):
    first = load_CIFAR10(str(root))
    names = cache_files(root)
    for b in ["data_batch_1", "data_batch_5", "test_batch"]:
        assert {f"{b}.x.npy", f"{b}.y.npy", f"{b}.stamp.json"} <= set(names)
    assert not [n for n in names if n.startswith(".tmp-")]

    def no_unpickling(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(data_utils.pickle, "load", no_unpickling)
    X, Y = data_utils._load_batch_uint8(str(root / "data_batch_1"))
    assert isinstance(X, np.memmap) and X.dtype == np.uint8 and X.shape == (7, 3, 32, 32)
    second = load_CIFAR10(str(root))
    for a, b in zip(first, second):
        assert np.array_equal(a, b) and a.dtype == b.dtype


@pytest.mark.timeout(30)
@pytest.mark.parametrize("rows", [5, 8])  # same size (only mtime differs), or a new size
def test_cache_is_rebuilt_when_a_batch_changes(root, rows):
    load_CIFAR10(str(root))
    batch = root / "data_batch_2"
    old = os.stat(batch)
    write_batch(batch, rows, seed=1234)
    os.utime(batch, ns=(old.st_atime_ns, old.st_mtime_ns + 10**9))
    X, Y = load_CIFAR_batch(str(batch))
    want_X, want_Y = classic_batch(batch)
    assert np.array_equal(X, want_X) and np.array_equal(Y, want_Y)
    assert load_CIFAR10(str(root))[0].shape[0] == sum(TRAIN_ROWS) - 5 + rows


@pytest.mark.timeout(30)
@pytest.mark.parametrize("damaged", ["x.npy", "y.npy", "stamp.json"])
def test_damaged_cache_is_rebuilt(root, damaged):
    want = load_CIFAR_batch(str(root / "test_batch"))
    path = root / data_utils.CACHE_DIRNAME / f"test_batch.{damaged}"
    path.write_bytes(path.read_bytes()[:50])
    got = load_CIFAR_batch(str(root / "test_batch"))
    assert all(np.array_equal(a, b) for a, b in zip(got, want))
    assert data_utils._read_cache(str(root / "test_batch")) is not None  # rebuilt


@pytest.mark.timeout(30)
@pytest.mark.parametrize("warm", [False, True])
def test_truncated_batch_is_a_value_error_naming_the_file(root, warm):
    if warm:
        load_CIFAR10(str(root))
    batch = root / "data_batch_4"
    batch.write_bytes(batch.read_bytes()[:1000])
    with pytest.raises(ValueError, match="data_batch_4 is corrupt or truncated"):
        load_CIFAR10(str(root))
    with pytest.raises(ValueError, match=str(batch)):
        get_CIFAR10_data(cifar10_dir=str(root))


@pytest.mark.timeout(30)
def test_batch_of_wrong_row_length_is_a_value_error(root):
    batch = root / "test_batch"
    with open(batch, "wb") as f:
        pickle.dump({"data": np.zeros((2, 100), np.uint8), "labels": [1, 2]}, f)
    with pytest.raises(ValueError, match="test_batch is corrupt"):
        load_CIFAR_batch(str(batch))


@pytest.mark.timeout(30)
def test_unwritable_cache_falls_back_to_unpickling(root, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_atomic.tempfile, "mkstemp", refuse)
    want = classic_data(root, 18, 4, 3)
    for _ in range(2):
        assert_same(get_CIFAR10_data(18, 4, 3, cifar10_dir=str(root)), want)
    assert cache_files(root) == []


@pytest.mark.timeout(30)
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write into a read-only folder")
def test_read_only_folder_falls_back_to_unpickling(root):
    want = classic_data(root, 18, 4, 3)
    os.chmod(root, 0o555)
    try:
        assert_same(get_CIFAR10_data(18, 4, 3, cifar10_dir=str(root)), want)
    finally:
        os.chmod(root, 0o755)
    assert cache_files(root) == []


@pytest.mark.timeout(30)
def test_failed_cache_write_leaves_no_temporary_file(root, monkeypatch):
    real_save = np.save

    def save_then_fail(f, arr, *args, **kwargs):
        real_save(f, arr[:1], *args, **kwargs)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(data_utils.np, "save", save_then_fail)
    X, _ = load_CIFAR_batch(str(root / "data_batch_1"))
    assert X.shape == (7, 32, 32, 3)
    assert cache_files(root) == []


# ----------------------------------------------------------------------------
# atomic_write, which writes the cache (and the checkpoints and saved models)
# ----------------------------------------------------------------------------

def test_atomic_write_replaces_the_file_with_a_readable_one(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    assert atomic_write(path, lambda f: f.write(b"new")) is path
    assert path.read_bytes() == b"new"
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]


def test_atomic_write_that_fails_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")

    def write_then_fail(f):
        f.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(str(path), write_then_fail)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin"]
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "nowhere" / "out.bin", lambda f: f.write(b"x"))


# ----------------------------------------------------------------------------
# The offline mirror, extracted with get_datasets.py
# ----------------------------------------------------------------------------

@pytest.mark.timeout(120)
def test_mirror_loads_like_the_course_and_warm_load_is_memory_mapped(tmp_path):
    archive = MIRROR / "cifar-10-python.tar.gz"
    if not archive.is_file():
        pytest.skip(f"offline CIFAR-10 mirror not found at {archive}")
    sys.path.insert(0, str(REPO))
    import get_datasets

    md5 = (MIRROR / "cifar-10-python.tar.gz.md5").read_text().split()[0]
    assert get_datasets.main(["--url", archive.as_uri(), "--md5", md5,
                              "--dest", str(tmp_path), "--quiet"]) == 0
    root = tmp_path / "cifar-10-batches-py"
    want = classic_data(root, 4438, 1000, 1000)
    assert_same(get_CIFAR10_data(cifar10_dir=str(root)), want)
    X, _ = data_utils._load_batch_uint8(str(root / "data_batch_4"))
    assert isinstance(X, np.memmap) and X.shape == (1285, 3, 32, 32)
    assert_same(get_CIFAR10_data(cifar10_dir=str(root)), want)


# ----------------------------------------------------------------------------
# Where get_CIFAR10_data() looks: the kit's place, the course's place, CIFAR10_DIR
# ----------------------------------------------------------------------------

@pytest.fixture
def places(tmp_path, monkeypatch):
    """The kit's and the course's default folders moved to tmp_path (both empty), no CIFAR10_DIR."""
    kit = tmp_path / "kit" / "datasets" / "cifar-10-batches-py"
    course = tmp_path / "kit" / "cs231n" / "datasets" / "cifar-10-batches-py"
    monkeypatch.setattr(data_utils, "CIFAR10_DIR", str(kit))
    monkeypatch.setattr(data_utils, "COURSE_CIFAR10_DIR", str(course))
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    return kit, course


def fill(folder, seed=0, rows=4):
    folder.mkdir(parents=True)
    for b in range(1, 6):
        write_batch(folder / f"data_batch_{b}", rows, seed=seed + b)
    write_batch(folder / "test_batch", rows, seed=seed + 9)
    return folder


def test_the_default_paths_are_the_kits_and_the_courses():
    assert data_utils.CIFAR10_DIR == str(REPO / "datasets" / "cifar-10-batches-py")
    assert data_utils.COURSE_CIFAR10_DIR == str(REPO / "cs231n" / "datasets" / "cifar-10-batches-py")


@pytest.mark.timeout(30)
def test_no_argument_finds_the_data_where_the_course_puts_it(places):
    _, course = places
    fill(course, seed=10)
    data = get_CIFAR10_data(num_training=10, num_validation=5, num_test=3)
    assert_same(data, classic_data(course, 10, 5, 3))
    assert data["X_train"].shape == (10, 3, 32, 32)  # channels first, as the course's


@pytest.mark.timeout(30)
def test_the_kits_place_comes_first_then_the_environment_and_the_argument_win(places, tmp_path,
                                                                              monkeypatch):
    kit, course = places
    fill(kit, seed=0)
    fill(course, seed=10)
    mine = fill(tmp_path / "mine", seed=20)
    elsewhere = fill(tmp_path / "elsewhere", seed=30)
    sizes = dict(num_training=10, num_validation=5, num_test=3)
    assert data_utils.find_CIFAR10_dir() == str(kit)
    assert_same(get_CIFAR10_data(**sizes), classic_data(kit, 10, 5, 3))
    monkeypatch.setenv("CIFAR10_DIR", str(mine))
    assert_same(get_CIFAR10_data(**sizes), classic_data(mine, 10, 5, 3))
    assert_same(get_CIFAR10_data(cifar10_dir=str(elsewhere), **sizes),
                classic_data(elsewhere, 10, 5, 3))


@pytest.mark.timeout(30)
def test_an_incomplete_kit_folder_does_not_hide_the_courses(places):
    kit, course = places
    fill(kit)
    (kit / "data_batch_3").unlink()
    fill(course, seed=10)
    assert data_utils.find_CIFAR10_dir() == str(course)


@pytest.mark.timeout(30)
def test_missing_dataset_names_every_place_it_looked_and_the_command(places):
    kit, course = places
    fill(kit)
    (kit / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError) as info:
        get_CIFAR10_data()
    message = str(info.value)
    assert f"{kit} (the kit's place, where get_datasets.py puts it): lacks test_batch" in message
    assert f"{course} (the course's place, next to cs231n/data_utils.py): not there" in message
    assert "python get_datasets.py" in message and "make data" in message
    assert "CIFAR10_DIR" in message and "cifar10_dir=" in message


@pytest.mark.timeout(30)
def test_a_wrong_environment_variable_is_named(places, tmp_path, monkeypatch):
    kit, _ = places
    fill(kit)
    monkeypatch.setenv("CIFAR10_DIR", str(tmp_path / "typo"))
    with pytest.raises(DatasetNotFoundError, match=r"typo \(given as the environment variable "
                                                   r"CIFAR10_DIR\).*CIFAR-10 is in .*kit"):
        get_CIFAR10_data()


@pytest.mark.timeout(30)
def test_load_CIFAR10_keeps_any_path_and_points_to_the_data_when_the_path_is_wrong(
        places, tmp_path, monkeypatch):
    """The classic notebooks load 'cs231n/datasets/cifar-10-batches-py' relative to their folder."""
    kit, _ = places
    fill(kit)
    anywhere = fill(tmp_path / "any" / "where", seed=5)
    Xtr, _, _, _ = load_CIFAR10(str(anywhere))
    assert Xtr.shape == (20, 32, 32, 3)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetNotFoundError) as info:
        load_CIFAR10("cs231n/datasets/cifar-10-batches-py")
    message = str(info.value)
    assert "cs231n/datasets/cifar-10-batches-py" in message
    assert str(tmp_path / "cs231n" / "datasets" / "cifar-10-batches-py") in message
    assert f"CIFAR-10 is in {kit}: pass that path" in message
