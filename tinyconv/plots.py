"""Pictures of a training run, as PNG files: curves, first-layer filters, feature maps, confusion.

matplotlib is optional (``pip install tinyconv[plot]``): :func:`available` tells whether it can
be imported, and every drawing function raises an ImportError that says how to install it.
Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure``) and never touch
pyplot, so no window opens, no global backend is changed and nothing leaks between calls.

Files written by :func:`plot_run` into a run folder:

===========================  ===================================================================
``curves.png``               loss and accuracy per epoch, training vs test
``filters.png``              the first convolution's filters, each scaled to its own min..max
``feature_maps.png``         one test image and the first channels of every conv layer's output
``confusion_matrix.png``     test-set counts of true class (rows) vs predicted class (columns)
===========================  ===================================================================
"""

import math
import os

import numpy as np

from .autograd import no_grad
from .tensor import Tensor

__all__ = ["available", "plot_curves", "plot_filters", "plot_feature_maps",
           "plot_confusion_matrix", "plot_run", "first_conv_weight"]


def available():
    """True if matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("tinyconv.plots needs matplotlib: pip install matplotlib (or "
                          "pip install 'tinyconv[plot]')") from None
    return Figure(figsize=(width, height), dpi=100)


def _save(fig, path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp.png")
    fig.savefig(tmp, dpi=fig.dpi, bbox_inches="tight")  # then rename: never half a PNG
    os.replace(tmp, path)
    return path


def _unit(a):
    """Scale an array to [0, 1] by its own min and max (a constant array becomes 0.5)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    return np.full_like(a, 0.5) if hi - lo < 1e-12 else (a - lo) / (hi - lo)


def plot_curves(history, path):
    """Loss and accuracy per epoch, training vs test, side by side.

    Parameters
    ----------
    history : list of dict
        Records with ``epoch``, ``train_loss``, ``test_loss``, ``train_acc``, ``test_acc``
        (as :class:`tinyconv.train.Trainer` keeps them).
    path : str or os.PathLike
        The PNG file to write.
    """
    if not history:
        raise ValueError("plot_curves: the history is empty (no epoch completed)")
    epochs = [r["epoch"] for r in history]
    fig = _figure(10, 3.8)
    for k, (key, title) in enumerate((("loss", "loss"), ("acc", "accuracy (%)"))):
        ax = fig.add_subplot(1, 2, k + 1)
        scale = 100.0 if key == "acc" else 1.0
        for split, style in (("train", "o-"), ("test", "s-")):
            ys = [r[f"{split}_{key}"] * scale for r in history]
            if all(math.isnan(y) for y in ys):
                continue
            ax.plot(epochs, ys, style, label=split, markersize=4)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        if key == "loss" and all(y > 0 for r in history for y in (r["train_loss"],)):
            ax.set_yscale("log")
        if len(epochs) < 15:
            ax.set_xticks(epochs)
    fig.tight_layout()
    return _save(fig, path)


def first_conv_weight(model):
    """(name, weight array (out, in, kH, kW)) of the model's first 2-D convolution, or None."""
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, Tensor) and w.ndim == 4 and "conv" in type(m).__name__.lower():
            return name, np.asarray(w.data)
    return None


def plot_filters(weight, path, title=None):
    """The filters of a convolution as an image grid, each scaled to its own min..max.

    Parameters
    ----------
    weight : array_like
        (out_channels, in_channels, kH, kW). Three input channels are shown as RGB colour
        images; one as grey; more as the first input channel's slice.
    path : str or os.PathLike
        The PNG file to write.
    title : str, optional
    """
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters: weight must be (out, in, kH, kW), got shape {w.shape}")
    n = w.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = _figure(min(1.0 * cols + 0.5, 16), min(1.0 * rows + 0.8, 16))
    rgb = w.shape[1] == 3
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        if rgb:
            ax.imshow(_unit(w[i]).transpose(1, 2, 0), interpolation="nearest")
        else:
            ax.imshow(_unit(w[i, 0]), cmap="gray", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{n} filters {w.shape[2]}x{w.shape[3]}"
                 + ("" if rgb or w.shape[1] == 1 else f" (input channel 0 of {w.shape[1]})"))
    return _save(fig, path)


def _conv_layers(model):
    out = []
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if "conv" in type(m).__name__.lower() and isinstance(w, Tensor) and w.ndim == 4:
            out.append((name, m))
    return out


def plot_feature_maps(model, image, path, max_channels=8, max_layers=24):
    """One input image and the first channels of each convolution's output for it.

    Parameters
    ----------
    model : tinyconv.nn.Module
        Run once in eval mode under ``no_grad`` (its training flag is restored afterwards).
    image : array_like or Tensor
        One input (C, H, W) or a batch of one (1, C, H, W), as the model takes it.
    path : str or os.PathLike
        The PNG file to write.
    max_channels : int
        Channels shown per layer.
    max_layers : int
        Deeper models show this many conv layers, evenly spaced from the first to the last.
    """
    x = np.asarray(image.data if isinstance(image, Tensor) else image)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"plot_feature_maps: image must be (C, H, W) or (1, C, H, W), got "
                         f"shape {x.shape}")
    layers = _conv_layers(model)
    if not layers:
        raise ValueError(f"plot_feature_maps: {type(model).__name__} has no conv layer")
    if len(layers) > max_layers:
        keep = np.unique(np.linspace(0, len(layers) - 1, max_layers).round().astype(int))
        layers = [layers[i] for i in keep]
    outputs = {}

    def keeper(name):
        def hook(module, args, out):
            outputs.setdefault(name, np.array(out.data))  # returns None: output unchanged
        return hook

    handles = [m.register_forward_hook(keeper(name)) for name, m in layers]
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(Tensor(np.ascontiguousarray(x, dtype=np.float32)
                         if x.dtype.kind != "f" else x))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    rows = 1 + len(layers)
    cols = max_channels
    fig = _figure(1.3 * cols + 1.5, 1.3 * rows)
    ax = fig.add_subplot(rows, cols, 1)
    img = x[0]
    if img.shape[0] == 3:
        ax.imshow(_unit(img).transpose(1, 2, 0), interpolation="nearest")
    else:
        ax.imshow(_unit(img[0]), cmap="gray", interpolation="nearest")
    ax.set_title("input", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    for r, (name, _) in enumerate(layers, start=1):
        fmap = outputs.get(name)
        if fmap is None:
            continue
        for c in range(min(cols, fmap.shape[1])):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1)
            ax.imshow(fmap[0, c], cmap="viridis", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(f"{name}\n{fmap.shape[1]}x{fmap.shape[2]}x{fmap.shape[3]}",
                              fontsize=7)
    fig.suptitle("feature maps (first channels of each conv layer)")
    return _save(fig, path)


def plot_confusion_matrix(cm, path, classes=None, title=None):
    """A confusion matrix: rows true class, columns predicted class, cells coloured per row.

    Parameters
    ----------
    cm : array_like
        (K, K) counts, e.g. from :func:`tinyconv.train.confusion_matrix`.
    path : str or os.PathLike
    classes : list of str, optional
        Tick labels.
    title : str, optional
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"plot_confusion_matrix: cm must be square, got shape {cm.shape}")
    k = cm.shape[0]
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.5, 0.55 * k + 2)
    fig = _figure(size + 1, size)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    if k <= 20:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    labels = classes if classes is not None and len(classes) == k else [str(i) for i in range(k)]
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xticklabels(labels, rotation=45 if max(len(s) for s in labels) > 2 else 0,
                       ha="right" if max(len(s) for s in labels) > 2 else "center", fontsize=8)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(title or f"confusion matrix: {acc:.2%} of {int(cm.sum())} correct")
    return _save(fig, path)


def plot_run(folder, history=None, model=None, image=None, cm=None, classes=None):
    """Draw whichever pictures the given pieces allow into ``folder``; return the paths.

    ``history`` gives ``curves.png``; ``model`` gives ``filters.png`` and, with ``image`` (one
    transformed test input), ``feature_maps.png``; ``cm`` (with ``classes``) gives
    ``confusion_matrix.png``.
    """
    out = []
    if history:
        out.append(plot_curves(history, os.path.join(folder, "curves.png")))
    if model is not None:
        first = first_conv_weight(model)
        if first is not None:
            name, w = first
            out.append(plot_filters(w, os.path.join(folder, "filters.png"),
                                    f"first conv layer ({name}): {w.shape[0]} filters "
                                    f"{w.shape[2]}x{w.shape[3]}"))
            if image is not None:
                out.append(plot_feature_maps(model, image,
                                             os.path.join(folder, "feature_maps.png")))
    if cm is not None:
        out.append(plot_confusion_matrix(cm, os.path.join(folder, "confusion_matrix.png"),
                                         classes))
    return out
