"""tinyconv.data: datasets, loader, transforms, readers, downloads, embedded digits.

Tests on the real MNIST / CIFAR-10 files use the project's shared copy (``../shared/data``
relative to the repository, or ``$TINYCONV_DATA_DIR``) and skip when it is absent. Everything
else runs on small synthetic files written to tmp_path.
"""

import functools
import gzip
import hashlib
import http.server
import io
import os
import shutil
import tarfile
import threading

import numpy as np
import pytest

import tinyconv as tc
from tinyconv.data import (
    CIFAR10,
    MNIST,
    Compose,
    DataLoader,
    Dataset,
    Digits,
    DownloadError,
    FashionMNIST,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Subset,
    TensorDataset,
    ToFloat,
    default_transforms,
    get_dataset,
    random_split,
    read_idx,
)

SHARED = os.environ.get("TINYCONV_DATA_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")


def shared(sub):
    path = os.path.join(SHARED, sub)
    if not os.path.isdir(path):
        pytest.skip(f"real dataset files not found at {os.path.abspath(path)} (set "
                    f"TINYCONV_DATA_DIR to a folder with mnist/ and cifar10/)")
    return path


# ------------------------------------------------------------------ synthetic files
def idx_bytes(array):
    magic = 0x00000803 if array.ndim == 3 else 0x00000801
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_mnist(folder, n_train=20, n_test=10, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{prefix}-{kind}-ubyte" + (".gz" if gz else "")
            data = idx_bytes(arr)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(gzip.compress(data, mtime=0) if gz else data)
        out[prefix] = (images, labels)
    return out


def cifar_records(n, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    raw = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    return images, labels, raw.tobytes()


def write_cifar_tar(path, per_batch=4):
    """A cifar-10-binary.tar.gz with tiny batches; returns {name: (images, labels)}."""
    content = {}
    with tarfile.open(path, "w:gz") as tf:
        for k, name in enumerate([f"data_batch_{i}.bin" for i in range(1, 6)]
                                 + ["test_batch.bin"]):
            images, labels, raw = cifar_records(per_batch, k)
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = len(raw)
            tf.addfile(info, io.BytesIO(raw))
            content[name] = (images, labels)
    return content


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


# ------------------------------------------------------------------ datasets
def test_tensor_dataset_subset_and_split():
    x = np.arange(50, dtype=np.float32).reshape(10, 5)
    y = tc.arange(10)
    ds = TensorDataset(x, y)
    assert len(ds) == 10
    a, b = ds[3]
    np.testing.assert_array_equal(a, x[3])
    assert b == 3
    bx, by = ds.get_batch(np.array([7, 1]))
    np.testing.assert_array_equal(bx, x[[7, 1]])
    np.testing.assert_array_equal(by, [7, 1])

    sub = Subset(ds, [9, 0, 4])
    assert len(sub) == 3 and sub[0][1] == 9
    np.testing.assert_array_equal(sub.get_batch(np.array([2, 0]))[1], [4, 9])

    parts = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [7, 3]
    assert sorted(np.concatenate([p.indices for p in parts]).tolist()) == list(range(10))
    again = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    np.testing.assert_array_equal(parts[0].indices, again[0].indices)
    tc.manual_seed(1)
    p1 = random_split(ds, [0.5, 0.5])
    tc.manual_seed(1)
    p2 = random_split(ds, [0.5, 0.5])
    np.testing.assert_array_equal(p1[1].indices, p2[1].indices)
    assert [len(p) for p in random_split(ds, [0.34, 0.33, 0.33])] == [4, 3, 3]


def test_dataset_errors():
    with pytest.raises(ValueError, match="same first dimension, got sizes \\[3, 4\\]"):
        TensorDataset(np.zeros(3), np.zeros(4))
    with pytest.raises(TypeError, match="argument 1 is a list"):
        TensorDataset(np.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    ds = TensorDataset(np.zeros(5))
    with pytest.raises(IndexError, match="index 5 is out of range for a dataset of 5"):
        Subset(ds, [0, 5])
    with pytest.raises(ValueError, match="sum to 4 but the dataset has 5"):
        random_split(ds, [2, 2])
    with pytest.raises(ValueError, match="sum to 0.9"):
        random_split(ds, [0.5, 0.4])
    with pytest.raises(TypeError, match="generator must be"):
        random_split(ds, [5], generator=42)
    with pytest.raises(NotImplementedError):
        len(Dataset())


# ------------------------------------------------------------------ loader
class CountingDataset(TensorDataset):
    """Records how it is read: get_batch calls, and __getitem__ calls (which must not happen)."""

    def __init__(self, *arrays):
        super().__init__(*arrays)
        self.batches, self.items = 0, 0

    def __getitem__(self, i):
        self.items += 1
        return super().__getitem__(i)

    def get_batch(self, idx):
        self.batches += 1
        return super().get_batch(idx)


def small_images(n=23, c=1, size=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, c, size, size), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.uint8))


def test_loader_batches_cover_the_data_once_with_one_gather_each():
    x, y = small_images()
    ds = CountingDataset(x, y)
    loader = DataLoader(ds, batch_size=5, shuffle=True, transform=ToFloat(),
                        generator=np.random.default_rng(0))
    assert len(loader) == 5
    batches = list(loader)
    assert ds.batches == 5 and ds.items == 0
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert isinstance(batches[0][0], tc.Tensor) and batches[0][0].dtype == np.float32
    assert batches[0][1].dtype == np.int64
    order = np.lexsort(images.reshape(len(images), -1).T)
    ref = np.lexsort((x.astype(np.float32) / 255).reshape(len(x), -1).T)
    np.testing.assert_allclose(images[order], x[ref].astype(np.float32) / 255, rtol=1e-6)
    np.testing.assert_array_equal(labels[order], y[ref])
    assert not np.array_equal(labels, y)  # shuffled

    ds.batches = 0
    sub_batches = list(DataLoader(Subset(ds, np.arange(0, 23, 2)), batch_size=4))
    assert ds.batches == 3 and ds.items == 0  # a subset asks its parent for whole batches
    np.testing.assert_array_equal(sub_batches[1][1].numpy(), y[8:16:2])

    dropped = DataLoader(ds, batch_size=5, drop_last=True)
    assert len(dropped) == 4 and [len(b[0]) for b in dropped] == [5] * 4
    plain = list(DataLoader(ds, batch_size=10))
    np.testing.assert_array_equal(plain[0][0].numpy(), x[:10])  # no transform: as stored
    assert plain[0][0].dtype == np.uint8


def test_loader_falls_back_to_samples_for_plain_datasets():
    class Squares(Dataset):
        def __len__(self):
            return 7

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, np.float32), i * i

    (xb, yb), = list(DataLoader(Squares(), batch_size=7))
    assert xb.shape == (7, 1, 2, 2) and yb.dtype == np.int64
    np.testing.assert_array_equal(yb.numpy(), np.arange(7) ** 2)


def test_loader_shuffle_is_seeded_by_manual_seed_and_changes_per_epoch():
    x, y = small_images(40)
    ds = TensorDataset(x, y)
    tfm = Compose([RandomCrop(4, padding=1), RandomHorizontalFlip(), ToFloat()])

    def run():
        tc.manual_seed(123)
        loader = DataLoader(ds, batch_size=8, shuffle=True, transform=tfm)
        return [[b[0].numpy() for b in loader] for _ in range(2)]

    a, b = run(), run()
    for ea, eb in zip(a, b):
        for ba, bb in zip(ea, eb):
            np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(a[0][0], a[1][0])


def test_loader_without_shuffle_or_random_transform_draws_nothing():
    x, y = small_images()
    tc.manual_seed(5)
    before = tc.default_generator.get_state()
    list(DataLoader(TensorDataset(x, y), batch_size=4, transform=ToFloat()))
    assert tc.default_generator.get_state() == before


def test_prefetch_gives_the_same_batches_and_propagates_errors():
    x, y = small_images(50, c=3, size=8)
    ds = TensorDataset(x, y)
    tfm = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip(), ToFloat(),
                   Normalize((0.5, 0.4, 0.3), (0.2, 0.2, 0.2))])
    out = {}
    for prefetch in (0, 1, 3):
        loader = DataLoader(ds, 7, shuffle=True, transform=tfm, prefetch=prefetch,
                            generator=np.random.default_rng(9))
        out[prefetch] = [(a.numpy(), b.numpy()) for a, b in loader]
    for p in (1, 3):
        for (a0, b0), (a1, b1) in zip(out[0], out[p]):
            np.testing.assert_array_equal(a0, a1)
            np.testing.assert_array_equal(b0, b1)

    def bad(batch):
        raise RuntimeError("broken transform")

    with pytest.raises(RuntimeError, match="broken transform"):
        list(DataLoader(ds, 7, transform=bad, prefetch=1))
    threads = threading.active_count()
    for i, _ in enumerate(DataLoader(ds, 5, prefetch=2)):
        if i == 1:
            break  # leaving early stops the worker
    assert threading.active_count() == threads


def test_loader_resumes_mid_epoch_exactly(tmp_path):
    x, y = small_images(30)
    ds = TensorDataset(x, y)
    tfm = Compose([RandomCrop(6, padding=2), RandomHorizontalFlip(), ToFloat()])

    def train(loader, epochs, stop_at=None, record=None):
        """Batches seen, with a 'dropout' draw from the default generator after each."""
        for epoch in range(epochs):
            for i, (xb, yb) in enumerate(loader):
                record.append((xb.numpy().copy(), yb.numpy().copy(),
                               tc.rand(3).numpy().copy()))
                if stop_at == (epoch, i):
                    return

    tc.manual_seed(0)
    full = []
    train(DataLoader(ds, 4, shuffle=True, transform=tfm), 3, record=full)

    tc.manual_seed(0)
    first = []
    loader = DataLoader(ds, 4, shuffle=True, transform=tfm)
    train(loader, 3, stop_at=(1, 2), record=first)
    tc.save({"loader": loader.state_dict(), "rng": tc.default_generator.get_state()},
            tmp_path / "ckpt")

    tc.manual_seed(999)  # a fresh process: other seed, new loader
    ckpt = tc.load(tmp_path / "ckpt")
    resumed = DataLoader(ds, 4, shuffle=True, transform=tfm)
    resumed.load_state_dict(ckpt["loader"])
    assert tc.default_generator.get_state() == ckpt["rng"]
    rest = []
    train(resumed, 2, record=rest)  # the rest of epoch 1, then epoch 2
    seen = first + rest
    assert len(seen) == len(full) == 3 * len(loader)
    for a, b in zip(full, seen):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)


def test_loader_state_between_epochs_and_with_numpy_generator():
    x, y = small_images(12)
    ds = TensorDataset(x, y)
    g = np.random.default_rng(3)
    loader = DataLoader(ds, 5, shuffle=True, generator=g)
    list(loader)
    state = loader.state_dict()
    expected = [b[1].numpy() for b in loader]
    loader2 = DataLoader(ds, 5, shuffle=True, generator=np.random.default_rng(77))
    loader2.load_state_dict(state)  # the whole epoch was done: resume at the next one
    got = [b[1].numpy() for b in loader2]
    for a, b in zip(expected, got):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="not a DataLoader state"):
        loader.load_state_dict({"epoch": 3})


def test_loader_errors():
    ds = TensorDataset(np.zeros((4, 1, 2, 2)))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        DataLoader(ds, 0)
    with pytest.raises(ValueError, match="prefetch must be a non-negative int"):
        DataLoader(ds, 2, prefetch=-1)
    with pytest.raises(TypeError, match="transform must be callable, got int"):
        DataLoader(ds, 2, transform=3)
    with pytest.raises(TypeError, match="generator must be"):
        DataLoader(ds, 2, generator="seed")
    with pytest.raises(TypeError, match="dataset must have __len__"):
        DataLoader(object(), 2)


# ------------------------------------------------------------------ transforms
def test_to_float_and_normalize():
    x = np.arange(2 * 3 * 2 * 2, dtype=np.uint8).reshape(2, 3, 2, 2) * 10
    f = ToFloat()(x)
    assert f.dtype == np.float32
    np.testing.assert_array_equal(f, x.astype(np.float32) * np.float32(1 / 255))
    assert ToFloat(1 / 16, dtype=np.float64)(x).dtype == np.float64
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    n = Normalize(mean, std)(f)
    ref = (f - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(n, ref, rtol=1e-6)
    assert n.dtype == np.float32 and not np.shares_memory(n, f)
    np.testing.assert_allclose(Normalize(0.5, 0.5)(f), (f - 0.5) / 0.5, rtol=1e-6)
    g = f.copy()
    assert Normalize(mean, std, inplace=True)(g) is g
    t = Normalize(mean, std)(tc.from_numpy(f))
    assert isinstance(t, tc.Tensor)
    np.testing.assert_array_equal(t.numpy(), n)
    np.testing.assert_allclose(Normalize(mean, std)(f[0]), n[0], rtol=1e-6)  # one (C, H, W)


def test_transform_errors():
    f = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(TypeError, match="Normalize: expected a floating-point batch, got uint8"):
        Normalize(0.5, 0.5)(np.zeros((2, 1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="2 mean values for a batch with 3 channels"):
        Normalize((0.1, 0.2), (1, 1, 1))(f)
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0, 0)
    with pytest.raises(ValueError, match="crop size \\(9, 9\\) is larger than the padded image "
                                         "\\(6, 6\\)"):
        RandomCrop(9, padding=1)(f)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        RandomCrop(4, padding_mode="wrap")
    with pytest.raises(ValueError, match="padding must be"):
        RandomCrop(4, padding=(1, 2, 3))
    with pytest.raises(ValueError, match="size must be a positive int"):
        RandomCrop(0)
    with pytest.raises(ValueError, match="expected \\(N, C, H, W\\) or \\(C, H, W\\), got shape "
                                         "\\(4, 4\\)"):
        RandomHorizontalFlip()(f[0, 0])
    with pytest.raises(ValueError, match="p must be a probability"):
        RandomHorizontalFlip(1.5)
    with pytest.raises(TypeError, match="ToFloat: expected a numpy array or a Tensor, got list"):
        ToFloat()([1, 2])
    with pytest.raises(TypeError, match="generator must be"):
        RandomCrop(4, generator=1)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
def test_random_crop_matches_a_per_image_reference(mode):
    x = np.random.default_rng(0).integers(0, 256, (16, 3, 7, 9), dtype=np.uint8)
    pad = (1, 2, 3, 0)  # left, top, right, bottom
    crop = RandomCrop((6, 8), padding=pad, padding_mode=mode, fill=7)
    out = crop(x, np.random.default_rng(42))
    assert out.shape == (16, 3, 6, 8) and out.dtype == np.uint8
    # Reference: the same offsets (top offsets first, then left), one image at a time.
    rng = np.random.default_rng(42)
    hp, wp = 7 + 2 + 0, 9 + 1 + 3
    tops, lefts = rng.integers(0, hp - 6 + 1, 16), rng.integers(0, wp - 8 + 1, 16)
    kw = {"constant_values": 7} if mode == "constant" else {}
    for i in range(16):
        p = np.pad(x[i], ((0, 0), (2, 0), (1, 3)), mode=mode, **kw)
        np.testing.assert_array_equal(out[i], p[:, tops[i]:tops[i] + 6, lefts[i]:lefts[i] + 8])
    assert len({(t, l) for t, l in zip(tops, lefts)}) > 1
    same = RandomCrop((6, 8), padding=pad, padding_mode=mode, fill=7,
                      generator=np.random.default_rng(42))
    np.testing.assert_array_equal(same(x, np.random.default_rng(0)), out)  # own generator wins
    np.testing.assert_array_equal(RandomCrop(7 - 1, padding=0)(x[0, :, :, :6],
                                                               np.random.default_rng(1)).shape,
                                  (3, 6, 6))


def test_random_crop_pads_by_four_as_torchvision_order():
    x = np.ones((1, 1, 2, 2), np.uint8)
    out = RandomCrop((2 + 3, 2 + 1), padding=(1, 3), generator=np.random.default_rng(0))(x)
    # padding (1, 3): left/right 1, top/bottom 3: the whole padded image is (8, 4)
    full = RandomCrop((8, 4), padding=(1, 3))(x)
    assert full.shape == (1, 1, 8, 4) and full.sum() == 4 and full[0, 0, 3, 1] == 1
    assert out.shape == (1, 1, 5, 3)


def test_random_horizontal_flip():
    x = np.random.default_rng(0).integers(0, 256, (200, 2, 3, 4), dtype=np.uint8)
    keep = x.copy()
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(1))
    np.testing.assert_array_equal(x, keep)  # input untouched
    flipped = np.array([np.array_equal(o, i[:, :, ::-1]) for o, i in zip(out, x)])
    same = np.array([np.array_equal(o, i) for o, i in zip(out, x)])
    assert np.all(flipped | same) and 60 < flipped.sum() < 140
    expect = np.random.default_rng(1).random(200) < 0.5
    np.testing.assert_array_equal(flipped, expect)
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    tc.manual_seed(4)
    a = RandomHorizontalFlip()(x)
    tc.manual_seed(4)
    np.testing.assert_array_equal(RandomHorizontalFlip()(x), a)


# ------------------------------------------------------------------ readers (synthetic)
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reader_synthetic(tmp_path, gz):
    content = write_mnist(tmp_path, gz=gz)
    for train, key in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        images, labels = content[key]
        assert ds.data.shape == (len(images), 1, 28, 28) and ds.data.dtype == np.uint8
        assert ds.targets.dtype == np.int64
        np.testing.assert_array_equal(ds.data[:, 0], images)
        assert ds.data.flags.writeable
        np.testing.assert_array_equal(ds.targets, labels)
        img, lbl = ds[3]
        np.testing.assert_array_equal(img, images[3][None])
        assert lbl == labels[3] and len(ds) == len(labels)
    assert FashionMNIST(tmp_path).classes[0] == "T-shirt/top"


def test_mnist_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist; put train-images-idx3-ubyte.gz"):
        MNIST(tmp_path / "nowhere")
    write_mnist(tmp_path, gz=False)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte \\(or t10k-labels-idx1"
                                                "-ubyte.gz\\) not found in .*download=True"):
        MNIST(tmp_path, train=False)
    p = tmp_path / "train-images-idx3-ubyte"
    raw = p.read_bytes()
    p.write_bytes(raw[:-100])
    with pytest.raises(ValueError, match="holds 15596 bytes but its header \\(20, 28, 28\\) "
                                         "needs 15696: the file is truncated"):
        MNIST(tmp_path)
    p.write_bytes(b"\x00\x00\x08\x02" + raw[4:])
    with pytest.raises(ValueError, match="magic number 0x00000802"):
        MNIST(tmp_path)
    p.write_bytes(raw)
    lp = tmp_path / "train-labels-idx1-ubyte"
    labels = bytearray(lp.read_bytes())
    labels[-1] = 12
    lp.write_bytes(bytes(labels))
    with pytest.raises(ValueError, match="label 12 in .* is out of range 0..9"):
        MNIST(tmp_path)
    with pytest.raises(ValueError, match="too short"):
        (tmp_path / "short").write_bytes(b"\x00\x00")
        read_idx(str(tmp_path / "short"))


def test_truncated_gzip_is_a_clear_error(tmp_path):
    write_mnist(tmp_path, gz=True)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match="cannot read .*train-images-idx3-ubyte.gz.*truncated"):
        MNIST(tmp_path)


def test_cifar_reader_from_folder_and_from_tar(tmp_path):
    archive = tmp_path / "cifar-10-binary.tar.gz"
    content = write_cifar_tar(archive)
    from_tar = CIFAR10(tmp_path, train=True)
    assert from_tar.data.flags.c_contiguous and from_tar.data.flags.writeable
    assert from_tar.data.shape == (20, 3, 32, 32) and from_tar.targets.dtype == np.int64
    np.testing.assert_array_equal(from_tar.data[:4], content["data_batch_1.bin"][0])
    np.testing.assert_array_equal(from_tar.targets[16:],
                                  content["data_batch_5.bin"][1].astype(np.int64))
    test = CIFAR10(archive, train=False)  # the archive's path itself works too
    np.testing.assert_array_equal(test.data, content["test_batch.bin"][0])
    assert test.classes[0] == "airplane"

    with tarfile.open(archive) as tf:
        tf.extractall(tmp_path / "x", filter="data") if hasattr(tarfile, "data_filter") \
            else tf.extractall(tmp_path / "x")
    (tmp_path / "x" / "cifar-10-batches-bin" / "batches.meta.txt").write_text(
        "\n".join(f"c{i}" for i in range(10)) + "\n")
    for root in (tmp_path / "x", tmp_path / "x" / "cifar-10-batches-bin"):
        ds = CIFAR10(root, train=True)
        np.testing.assert_array_equal(ds.data, from_tar.data)
        np.testing.assert_array_equal(ds.targets, from_tar.targets)
        assert ds.classes[3] == "c3"


def test_cifar_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="test_batch.bin not found in .*nor "
                                                "cifar-10-binary.tar.gz in .*download=True"):
        CIFAR10(tmp_path, train=False)
    _, _, raw = cifar_records(3, 0)
    (tmp_path / "test_batch.bin").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="holds 9209 bytes, not a multiple of the 3073-byte "
                                         "record: the file is truncated"):
        CIFAR10(tmp_path, train=False)
    bad = bytearray(raw)
    bad[0] = 200
    (tmp_path / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match="label 200 .* out of range 0..9"):
        CIFAR10(tmp_path, train=False)
    os.remove(tmp_path / "test_batch.bin")
    archive = tmp_path / "cifar-10-binary.tar.gz"
    write_cifar_tar(archive, per_batch=50)
    archive.write_bytes(archive.read_bytes()[:20000])
    with pytest.raises(ValueError, match="cannot read .*cifar-10-binary.tar.gz.*truncated or "
                                         "corrupt"):
        CIFAR10(tmp_path, train=False)
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("README")
        tf.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match="does not contain data_batch_1.bin"):
        CIFAR10(archive)


# ------------------------------------------------------------------ downloads (offline)
@pytest.fixture
def http_root(tmp_path):
    """A local HTTP server over tmp_path/'served'; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def fake_mnist_class(served, mirrors):
    content = write_mnist(served)
    resources = [(n, md5(served / n)) for n, _ in MNIST.resources]
    return type("FakeMNIST", (MNIST,), {"mirrors": mirrors, "resources": resources}), content


def test_download_over_http_checks_md5_and_tries_mirrors(http_root, tmp_path):
    served, url = http_root
    dead = "http://127.0.0.1:9/"  # the discard port: connection refused
    Fake, content = fake_mnist_class(served, [dead, url])
    root = tmp_path / "data"
    ds = Fake(root, train=False, download=True)
    np.testing.assert_array_equal(ds.targets, content["t10k"][1])
    assert sorted(os.listdir(root)) == sorted(n for n, _ in Fake.resources)  # no .part left
    # Present and intact: not fetched again (the server is not even asked).
    Fake.mirrors = [dead]
    Fake(root, download=True)
    # A damaged local file is fetched again.
    (root / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk")
    Fake.mirrors = [url]
    Fake(root, train=False, download=True)
    assert md5(root / "t10k-labels-idx1-ubyte.gz") == md5(served / "t10k-labels-idx1-ubyte.gz")


def test_download_rejects_a_tampered_file(http_root, tmp_path):
    served, url = http_root
    Fake, _ = fake_mnist_class(served, [url])
    with open(served / "train-labels-idx1-ubyte.gz", "r+b") as f:
        f.seek(30)
        f.write(b"\xff")
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="train-labels-idx1-ubyte.gz.*md5 [0-9a-f]{32} does "
                                            "not match the published"):
        Fake(root, download=True)
    assert not os.path.exists(root / "train-labels-idx1-ubyte.gz")
    assert not os.path.exists(root / "train-labels-idx1-ubyte.gz.part")


def test_download_without_network_says_what_to_put_where(tmp_path):
    Fake = type("FakeMNIST", (MNIST,), {"mirrors": ["http://127.0.0.1:9/"]})
    root = tmp_path / "mnist"
    with pytest.raises(DownloadError) as e:
        Fake(root, download=True)
    msg = str(e.value)
    assert "could not download 4 file(s)" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert "copy train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz" in msg
    assert str(root) in msg


def test_download_cifar_archive_from_a_file_url(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    content = write_cifar_tar(src / "cifar-10-binary.tar.gz")
    Fake = type("FakeCIFAR", (CIFAR10,), {
        "mirrors": [(src.as_uri() + "/")],
        "resources": [("cifar-10-binary.tar.gz", md5(src / "cifar-10-binary.tar.gz"))]})
    ds = Fake(tmp_path / "data", train=False, download=True)
    np.testing.assert_array_equal(ds.data, content["test_batch.bin"][0])
    assert os.listdir(tmp_path / "data") == ["cifar-10-binary.tar.gz"]


def test_published_md5_sums_match_the_shared_copies():
    folder = shared("mnist")
    with open(os.path.join(folder, "MD5SUMS")) as f:
        sums = dict(line.split()[::-1] for line in f)
    for name, value in MNIST.resources:
        assert sums[name] == value


# ------------------------------------------------------------------ real files (if present)
def test_mnist_real_files():
    folder = shared("mnist")
    train, test = MNIST(folder), MNIST(folder, train=False)
    assert train.data.shape == (60000, 1, 28, 28) and test.data.shape == (10000, 1, 28, 28)
    assert train.targets[:5].tolist() == [5, 0, 4, 1, 9] and test.targets[0] == 7
    assert np.bincount(test.targets).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    ds = get_dataset("mnist", SHARED, train=False)  # the parent folder with mnist/ inside
    np.testing.assert_array_equal(ds.targets, test.targets)
    ds = get_dataset("MNIST", folder, train=False)  # the dataset's own folder
    assert len(ds) == 10000


def test_cifar_real_files_and_truncated_copy(tmp_path):
    folder = shared("cifar10")
    test = CIFAR10(folder, train=False)
    assert test.data.shape == (10000, 3, 32, 32) and test.data.dtype == np.uint8
    assert np.bincount(test.targets).tolist() == [1000] * 10
    assert test.classes[:2] == ["airplane", "automobile"]
    src = os.path.join(folder, "cifar-10-batches-bin", "test_batch.bin")
    with tarfile.open(tmp_path / "cifar-10-binary.tar.gz", "w:gz", compresslevel=1) as tf:
        tf.add(src, arcname="cifar-10-batches-bin/test_batch.bin")
    from_tar = CIFAR10(tmp_path, train=False)
    np.testing.assert_array_equal(from_tar.data, test.data)
    cut = tmp_path / "cut"
    cut.mkdir()
    with open(src, "rb") as f:
        (cut / "test_batch.bin").write_bytes(f.read(3073 * 100 + 17))
    with pytest.raises(ValueError, match="holds 307317 bytes.*truncated or corrupt"):
        CIFAR10(cut, train=False)
    ds = get_dataset("cifar10", SHARED, train=False)
    assert len(ds) == 10000


def test_mnist_loader_epoch_on_real_files():
    ds = MNIST(shared("mnist"), train=False)
    loader = DataLoader(ds, 64, shuffle=True, transform=default_transforms("mnist"),
                        generator=np.random.default_rng(0))
    n, total = 0, 0.0
    for xb, yb in loader:
        n += len(xb)
        total += float(xb.numpy().sum(dtype=np.float64))
    assert n == 10000
    mean = total / (10000 * 784)
    assert abs(mean) < 0.05  # normalised by the training mean/std: test mean close to 0


# ------------------------------------------------------------------ embedded digits, registry
def test_digits_embedded():
    train, test = Digits(), Digits(train=False)
    assert len(train) == 1437 and len(test) == 360
    assert train.data.shape == (1437, 1, 8, 8) and train.data.dtype == np.uint8
    assert train.data.max() == 16 and train.data.min() == 0
    assert train.targets.dtype == np.int64
    counts = np.bincount(train.targets, minlength=10) + np.bincount(test.targets, minlength=10)
    assert counts.tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    np.testing.assert_array_equal(np.bincount(test.targets),
                                  [36, 37, 35, 37, 36, 36, 36, 36, 35, 36])  # stratified
    # scikit-learn's first digit (a 0), row 0 of digits.csv.gz
    first = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0]
    assert any(d.data[0].ravel()[:16].tolist() == first for d in (train, test))
    # Same split every time, and not overlapping.
    again = Digits()
    np.testing.assert_array_equal(again.data, train.data)
    assert get_dataset("digits", train=False).data.shape == (360, 1, 8, 8)
    size = os.path.getsize(os.path.join(os.path.dirname(tc.data.__file__), "digits.npz"))
    assert size < 60_000


def test_digits_root_override_and_corrupt_file(tmp_path):
    src = os.path.join(os.path.dirname(tc.data.__file__), "digits.npz")
    shutil.copy(src, tmp_path / "digits.npz")
    assert len(Digits(tmp_path)) == 1437
    with open(src, "rb") as f:
        (tmp_path / "digits.npz").write_bytes(f.read(1000))
    with pytest.raises(ValueError, match="Digits: cannot read .*corrupt"):
        Digits(tmp_path)
    with pytest.raises(FileNotFoundError, match="Digits: .*nothing.npz not found"):
        Digits(tmp_path / "nothing.npz")


def test_digits_train_a_linear_classifier():
    """The embedded data, loader and transform are enough to learn something, offline."""
    tc.manual_seed(0)
    loader = DataLoader(Digits(), 64, shuffle=True, transform=default_transforms("digits"))
    w = np.zeros((64, 10), np.float32)
    for _ in range(15):
        for xb, yb in loader:
            x = xb.numpy().reshape(len(xb), -1)
            logits = x @ w
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(x)), yb.numpy()] -= 1
            w -= 0.5 * x.T @ p / len(x)
    test = Digits(train=False)
    xt = default_transforms("digits", train=False)(test.data).reshape(len(test), -1)
    acc = float(((xt @ w).argmax(1) == test.targets).mean())
    assert acc > 0.9


def test_get_dataset_and_default_transforms(tmp_path):
    write_mnist(tmp_path / "fashion-mnist")
    ds = get_dataset("Fashion_MNIST", tmp_path)
    assert isinstance(ds, FashionMNIST) and len(ds) == 20
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; choose one of mnist, "
                                         "fashion-mnist, cifar10, digits"):
        get_dataset("svhn")
    with pytest.raises(TypeError, match="dataset name must be a str"):
        default_transforms(3)
    with pytest.raises(FileNotFoundError, match="MNIST: data directory .*mnist"):
        get_dataset("mnist", tmp_path / "empty")
    x8 = np.full((2, 3, 32, 32), 255, np.uint8)
    test_t = default_transforms("cifar10", train=False)
    out = test_t(x8)
    assert out.dtype == np.float32 and out.shape == (2, 3, 32, 32)
    np.testing.assert_allclose(out[:, 0], (1 - 0.4914) / 0.2470, rtol=1e-5)
    train_t = default_transforms("cifar10", train=True)
    assert train_t.random and not test_t.random
    assert train_t(x8, np.random.default_rng(0)).min() < 0  # padding shows up as 0 pixels
    d = default_transforms("digits")(np.array([[[[16, 8]]]], np.uint8))
    np.testing.assert_allclose(d, [[[[1.0, 0.5]]]])
    m = default_transforms("mnist")(np.zeros((1, 1, 2, 2), np.uint8))
    np.testing.assert_allclose(m, -0.1307 / 0.3081, rtol=1e-5)
