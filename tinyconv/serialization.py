"""Checkpoints: ``save(obj, path)`` and ``load(path)`` for nested containers of arrays.

Format: an ``.npz`` (a zip of ``.npy`` files) written with numpy. Each array is one ``.npy``
entry (dtype and shape exact); the structure around them -- dicts, lists, tuples and Python
scalars -- is a JSON document stored as one more entry (``__tinyconv__.npy``, UTF-8 bytes).
Loading uses ``numpy.load(allow_pickle=False)`` and ``json``: no pickle anywhere, so a
checkpoint from an untrusted source cannot run code.

What can be stored: dict (str or int keys; OrderedDict stays an OrderedDict), list, tuple,
numpy arrays of numeric or bool dtype, numpy scalars, tinyconv Tensors (stored as their arrays
and loaded back as numpy arrays, as ``Module.state_dict()`` gives them), int (any size: a numpy
``bit_generator.state`` with 128-bit integers round-trips exactly), float (exactly, including
nan and inf), bool, str and None.

Writes are atomic: the checkpoint is written to a temporary file in the same folder, flushed and
fsynced, then renamed over ``path`` with ``os.replace``. A crash or an exception during the
write leaves any previous file at ``path`` untouched (a killed process may leave its temporary
``.<name>.<random>.tmp`` file behind; it is never read).
"""

import json
import os
import secrets
import zipfile
import zlib
from collections import OrderedDict

import numpy as np

from .tensor import Tensor

__all__ = ["load", "save"]

_FORMAT = "tinyconv-checkpoint"
_VERSION = 1
_STRUCT = "__tinyconv__"
_ZIP_MAGIC = b"PK\x03\x04"


def _where(path):
    return "obj" + "".join(f"[{p!r}]" for p in path)


class _Encoder:
    """Walks the object, collecting arrays and building the JSON-able structure."""

    def __init__(self):
        self.arrays = {}
        self._active = set()

    def array(self, a, path):
        if a.dtype.kind not in "biufc" or a.dtype.hasobject:
            raise TypeError(f"save: the array at {_where(path)} has dtype {a.dtype}; only "
                            f"numeric and bool arrays can be stored")
        key = f"a{len(self.arrays)}"
        self.arrays[key] = a
        return key

    def encode(self, obj, path=()):
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            # Before the Python types: np.float64 is a float subclass, and must stay np.float64.
            return {"$t": "scalar", "k": self.array(np.asarray(obj), path)}
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):  # bool handled above
            return obj
        if isinstance(obj, float):
            return obj if np.isfinite(obj) else {"$t": "float", "v": repr(obj)}
        if isinstance(obj, Tensor):
            return {"$t": "array", "k": self.array(obj.data, path)}
        if isinstance(obj, np.ndarray):
            return {"$t": "array", "k": self.array(obj, path)}
        if isinstance(obj, (dict, list, tuple)):
            if id(obj) in self._active:
                raise ValueError(f"save: {_where(path)} contains itself; cannot store a cycle")
            self._active.add(id(obj))
            try:
                return self.container(obj, path)
            finally:
                self._active.discard(id(obj))
        raise TypeError(f"save: cannot store a {type(obj).__name__} at {_where(path)}; "
                        f"supported: dict, list, tuple, numpy arrays and scalars, Tensor, int, "
                        f"float, bool, str, None")

    def container(self, obj, path):
        if isinstance(obj, dict):
            keys = []
            for k in obj:
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                    raise TypeError(f"save: dict key {k!r} ({type(k).__name__}) at "
                                    f"{_where(path)}; keys must be str or int")
                keys.append(k if isinstance(k, str) else int(k))
            tag = "odict" if isinstance(obj, OrderedDict) else "dict"
            return {"$t": tag, "keys": keys,
                    "vals": [self.encode(v, path + (k,)) for k, v in zip(keys, obj.values())]}
        tag = "tuple" if isinstance(obj, tuple) else "list"
        if isinstance(obj, tuple) and type(obj) is not tuple:
            raise TypeError(f"save: cannot store a {type(obj).__name__} (a namedtuple?) at "
                            f"{_where(path)}; convert it to a tuple or dict")
        return {"$t": tag, "items": [self.encode(v, path + (i,)) for i, v in enumerate(obj)]}


def _decode(node, arrays, path):
    if not isinstance(node, dict):
        return node
    tag = node.get("$t")
    if tag in ("array", "scalar"):
        a = arrays[node["k"]]
        return a[()] if tag == "scalar" else a
    if tag == "float":
        return float(node["v"])
    if tag in ("dict", "odict"):
        cls = OrderedDict if tag == "odict" else dict
        return cls((k, _decode(v, arrays, path + (k,)))
                   for k, v in zip(node["keys"], node["vals"]))
    if tag in ("list", "tuple"):
        items = [_decode(v, arrays, path + (i,)) for i, v in enumerate(node["items"])]
        return tuple(items) if tag == "tuple" else items
    raise ValueError(f"unknown node type {tag!r} at {_where(path)}")


def save(obj, path):
    """Write ``obj`` to ``path`` atomically, in a format that loads without running code.

    Parameters
    ----------
    obj : dict, list, tuple, array, Tensor or scalar, nested
        E.g. ``{'model': model.state_dict(), 'optimizer': opt.state_dict(), 'epoch': 3,
        'rng': tinyconv.default_generator.get_state()}``. See the module docstring for the types.
    path : str or os.PathLike
        Written as given (no suffix is added). Its folder must exist.

    Raises
    ------
    TypeError
        For an object, array dtype or dict key that cannot be stored, naming where it is.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save: path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    enc = _Encoder()
    root = enc.encode(obj)  # all type errors are raised here, before any file is touched
    header = {"format": _FORMAT, "version": _VERSION, "root": root}
    struct = np.frombuffer(json.dumps(header, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: folder {folder} does not exist")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    # os.open with mode 0o666 lets the umask decide permissions, like open(path, 'wb') would.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, struct, enc.arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)


def _write(f, struct, arrays):
    np.savez(f, **{_STRUCT: struct}, **arrays)


def _fsync_dir(folder):
    # Makes the rename itself durable on POSIX; not possible (nor needed) everywhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path):
    """Read a checkpoint written by :func:`save`.

    Arrays come back as numpy arrays with their dtypes and shapes (Tensors were stored as
    arrays); dict keys keep their types (int keys stay ints); tuples stay tuples.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a tinyconv checkpoint, or is truncated or corrupt.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load: path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: {path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != _ZIP_MAGIC:
        raise ValueError(f"load: {path} is not a tinyconv checkpoint (not an .npz/zip file; "
                         f"starts with {magic!r})")
    try:
        with np.load(path, allow_pickle=False) as z:
            if _STRUCT not in z.files:
                raise ValueError(f"load: {path} is an .npz file but not a tinyconv checkpoint "
                                 f"(no {_STRUCT} entry)")
            header = json.loads(bytes(z[_STRUCT]).decode("utf-8"))
            if not isinstance(header, dict) or header.get("format") != _FORMAT:
                raise ValueError(f"load: {path} is not a tinyconv checkpoint (bad header)")
            if header.get("version") != _VERSION:
                raise ValueError(f"load: {path} is a version {header.get('version')} "
                                 f"checkpoint; this tinyconv reads version {_VERSION}")
            arrays = {k: z[k] for k in z.files if k != _STRUCT}
            return _decode(header["root"], arrays, ())
    except ValueError as e:
        if str(e).startswith("load: "):
            raise
        raise ValueError(f"load: {path} is corrupt: {e}") from None
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, KeyError, TypeError,
            UnicodeDecodeError, RecursionError) as e:
        raise ValueError(f"load: {path} is truncated or corrupt: {type(e).__name__}: {e}") \
            from None
