"""DataLoader: batches of a dataset as Tensors, shuffled reproducibly, optionally prefetched.

Reproducibility: at the start of each epoch (each ``iter(loader)``) the loader draws, from its
generator and in the calling thread, the epoch's permutation (if ``shuffle``) and one seed for
the random transforms (if any). Batch ``b`` of the epoch is transformed with a numpy Generator
seeded by ``(seed, b)``, so the result does not depend on which thread prepares a batch or when,
and a resumed epoch can skip batches without replaying their random draws.

Resuming mid-training: ``loader.state_dict()`` returns the generator's state as it was before
the current epoch's draws, the number of batches already handed out in that epoch, and the
generator's current state. Save it in the checkpoint; after ``loader.load_state_dict(state)``
the next ``iter(loader)`` repeats that epoch's permutation and transform seed and starts at the
first batch not yet handed out, and the generator continues from where it was when the state was
taken. With the default generator (``tinyconv.default_generator``, shared with weight
initialisation and dropout) this is the same state as ``tinyconv.default_generator.get_state()``
saved at that moment, so restoring either is enough. State taken between epochs resumes at the
start of the next epoch.
"""

import copy
import queue
import threading

import numpy as np

from ..tensor import Tensor
from .dataset import _numpy_rng, gather
from .transforms import Transform

__all__ = ["DataLoader"]

# Background prefetch is off by default because it measured slower. On this project's shared
# 2-core machine, MNIST batches of 64 (uint8 gather + ToFloat + Normalize) take 0.05-0.07 ms to
# prepare, 2 % of a simulated 2.8 ms numpy training step (matmuls on one BLAS thread; the
# machine was shared, load average 3-7); interleaved runs of 300 steps, 7 repeats, median
# ms/step: prefetch=0 3.07, prefetch=1 3.33, prefetch=2 3.37 (the hand-off to and from the
# worker thread -- queue wake-ups and the GIL -- costs more than the 0.07 ms it hides).
# CIFAR-10 batches with crop + flip (0.8 ms to prepare) next to a 3.4 ms step: 5.5 vs 6.8 ms.
# A real LeNet-5 step in tinyconv (~10 ms): 11.2 vs 10.6 ms with 2 threads, 11.3 vs 11.8 ms
# with 1, within the noise. Pass prefetch=1 to try it with heavier transforms.
DEFAULT_PREFETCH = 0


def _is_random(transform):
    if transform is None:
        return False
    return bool(getattr(transform, "random", True))  # unknown callables: assume they draw


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``__len__`` and ``__getitem__``; datasets with ``get_batch(indices)`` (all
        of tinyconv's) are gathered with one numpy fancy-index per field and batch.
    batch_size : int
    shuffle : bool
        A new permutation each epoch, drawn from ``generator``.
    drop_last : bool
        Drop the last batch if it is smaller than ``batch_size``.
    generator : numpy.random.Generator, optional
        Source of the permutations and transform seeds; by default tinyconv's default generator
        (seeded by ``tinyconv.manual_seed``).
    transform : callable, optional
        Applied to each batch's first field (the images), e.g.
        ``Compose([ToFloat(), Normalize(0.1307, 0.3081)])``; see :mod:`tinyconv.data.transforms`.
        Without it the images come as stored (uint8 for the image datasets).
    prefetch : int
        Batches prepared ahead in one background thread (0: none, the default; see
        ``DEFAULT_PREFETCH``). A custom transform that draws from tinyconv's default generator
        itself would race with the training thread: use tinyconv's transforms, or prefetch=0.

    Yields
    ------
    tuple of Tensor
        One Tensor per field: ``(images, labels)`` for the image datasets; images as the
        transform returns them (float32 (N, C, H, W) with the default transforms), labels int64.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, generator=None,
                 transform=None, prefetch=DEFAULT_PREFETCH):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
                batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if isinstance(prefetch, bool):
            prefetch = int(prefetch)
        if not isinstance(prefetch, (int, np.integer)) or prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be a non-negative int, got {prefetch!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, got "
                            f"{type(transform).__name__}")
        if generator is not None:
            _numpy_rng(generator, "DataLoader")
        if not hasattr(dataset, "__len__") or not (hasattr(dataset, "get_batch")
                                                   or hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = generator
        self.transform = transform
        self.prefetch = int(prefetch)
        self._epoch_state = None  # generator state before the current epoch's draws
        self._yielded = 0  # batches handed out in the current epoch
        self._resume = None  # (epoch_state, batches to skip) set by load_state_dict

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    # ------------------------------------------------------------------ state
    def state_dict(self):
        """Where the loader is: see the module docstring. Plain dicts and ints only."""
        rng = _numpy_rng(self.generator, "DataLoader")
        return {
            "epoch_generator_state": copy.deepcopy(self._epoch_state),
            "batches_done": int(self._yielded) if self._epoch_state is not None else 0,
            "generator_state": copy.deepcopy(rng.bit_generator.state),
        }

    def load_state_dict(self, state):
        """Resume from :meth:`state_dict`: the next ``iter`` continues that epoch."""
        try:
            epoch_state = state["epoch_generator_state"]
            done = int(state["batches_done"])
            current = state["generator_state"]
        except (KeyError, TypeError) as e:
            raise ValueError(f"DataLoader.load_state_dict: not a DataLoader state ({e!r}); "
                             f"expected the dict returned by state_dict()") from None
        rng = _numpy_rng(self.generator, "DataLoader")
        rng.bit_generator.state = current
        if epoch_state is not None and 0 <= done < len(self):
            self._resume = (copy.deepcopy(epoch_state), done)
        else:
            self._resume = None
        self._epoch_state, self._yielded = None, 0

    # ------------------------------------------------------------- iteration
    def _epoch_plan(self):
        """Draw (in the caller's thread) the epoch's order and transform seed."""
        n = len(self.dataset)
        rng = _numpy_rng(self.generator, "DataLoader")
        skip = 0
        if self._resume is not None:
            epoch_state, skip = self._resume
            self._resume = None
            draw = np.random.Generator(type(rng.bit_generator)())
            draw.bit_generator.state = epoch_state
        else:
            epoch_state = copy.deepcopy(rng.bit_generator.state)
            draw = rng
        order = draw.permutation(n) if self.shuffle else np.arange(n)
        seed = int(draw.integers(2 ** 63)) if _is_random(self.transform) else None
        self._epoch_state, self._yielded = epoch_state, skip
        return order, seed, skip

    def _batch(self, order, seed, b):
        idx = order[b * self.batch_size:(b + 1) * self.batch_size]
        fields = gather(self.dataset, idx)
        if self.transform is not None:
            images = fields[0]
            if isinstance(self.transform, Transform):
                rng = None if seed is None else np.random.default_rng((seed, b))
                images = self.transform(images, rng)
            else:
                images = self.transform(images)
            fields = (images,) + tuple(fields[1:])
        out = []
        for k, f in enumerate(fields):
            if isinstance(f, Tensor):
                f = f.data
            f = np.asarray(f)
            if k > 0 and f.dtype.kind in "iub":
                f = f.astype(np.int64, copy=False)  # labels: int64, as PyTorch's cross_entropy
            out.append(Tensor._wrap(f))
        return tuple(out)

    def __iter__(self):
        order, seed, skip = self._epoch_plan()
        nb = len(self)
        if self.prefetch > 0 and nb - skip > 1:
            return self._prefetching(order, seed, skip, nb)
        return self._serial(order, seed, skip, nb)

    def _serial(self, order, seed, skip, nb):
        for b in range(skip, nb):
            batch = self._batch(order, seed, b)
            self._yielded = b + 1
            yield batch

    def _prefetching(self, order, seed, skip, nb):
        q = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def work():
            for b in range(skip, nb):
                if stop.is_set():
                    return
                try:
                    item = (self._batch(order, seed, b), None)
                except BaseException as e:  # noqa: BLE001  (re-raised by the consumer)
                    item = (None, e)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if item[1] is not None:
                    return

        worker = threading.Thread(target=work, name="tinyconv-prefetch", daemon=True)
        worker.start()
        try:
            for b in range(skip, nb):
                batch, err = q.get()
                if err is not None:
                    raise err
                self._yielded = b + 1
                yield batch
        finally:
            stop.set()
            worker.join()

    def __repr__(self):
        return (f"DataLoader({type(self.dataset).__name__} of {len(self.dataset)}, "
                f"batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}, prefetch={self.prefetch})")
