"""``Optimizer``: the base class of every optimizer, with PyTorch's parameter groups and state.

Subclasses implement ``step`` (as in PyTorch), or, like the built-in optimizers, describe their
update as one elementwise kernel (``_hyper``, ``_init_state``, ``_kernel``) that the base class
runs per tensor or on flat buffers (see :meth:`Optimizer.step`). Updates write into each
parameter's numpy array in place (``p.data``), so every reference to the parameter sees them,
and no autograd graph is recorded; float32 parameters and state stay float32.

Checkpoints
-----------
:meth:`Optimizer.state_dict` has PyTorch's structure::

    {'state': {0: {'step': 3.0, 'exp_avg': ndarray, 'exp_avg_sq': ndarray}, 1: {...}},
     'param_groups': [{'lr': 0.001, 'betas': (0.9, 0.999), ..., 'params': [0, 1]}]}

Parameters are numbered in the order of the groups. Every per-parameter value is a numpy array
(a copy, with the parameter's shape and dtype) or a Python float (``step``); group options are
Python scalars, strings and tuples of floats. So a checkpoint writer can flatten it into an
``.npz`` file with ``allow_pickle=False``. :meth:`Optimizer.load_state_dict` accepts the same
structure back, with numpy scalars or 0-d arrays in place of Python scalars (as ``np.load`` gives
them), and also PyTorch tensors (duck-typed: tinyconv never imports torch), so a PyTorch
optimizer's ``state_dict()`` can be loaded into the tinyconv optimizer of the same class.
"""

import copy
import numbers
import warnings
from collections import defaultdict

import numpy as np

from ..autograd import enable_grad
from ..tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class for all optimizers.

    Parameters
    ----------
    params : iterable
        An iterable of :class:`~tinyconv.Tensor` (usually ``model.parameters()``), of
        ``(name, tensor)`` pairs (``model.named_parameters()``), or of dicts, each a parameter
        group: ``{'params': [...], 'lr': 0.1, ...}``; options missing from a group are taken
        from ``defaults``.
    defaults : dict
        Default option values of the optimizer.

    Attributes
    ----------
    param_groups : list of dict
        One dict per group: ``'params'`` (a list of tensors) and the group's options. Learning-rate
        schedulers change ``group['lr']`` here.
    state : collections.defaultdict
        Per-parameter state, keyed by the parameter tensor itself, e.g. ``state[p]['exp_avg']``.
        For a group's small tensors these arrays are views into one flat buffer per entry. An
        array put there by hand (or by ``load_state_dict``) is used: at the next step its values
        are copied into new flat buffers and the entry becomes a view again (unlike PyTorch,
        the object put there is then no longer updated).
    """

    def __init__(self, params, defaults):
        self.defaults = defaults
        self.state = defaultdict(dict)
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name}: params should be an iterable of Tensors or dicts, but got a "
                f"single {type(params).__name__}; pass [tensor] or model.parameters()"
            )
        if isinstance(params, dict):
            params = [params]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be in an ordered collection (a list), "
                            "not a set, whose order changes from run to run")
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError(f"{self._name}: got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    @property
    def _name(self):
        return type(self).__name__

    def __getstate__(self):
        # The step wrapper that a learning-rate scheduler installs is a closure: leave it out.
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state):
        self.__dict__.update(state)

    def __repr__(self):
        text = self._name + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group):
        """Add a parameter group (a dict with ``'params'`` and optional options).

        Useful when fine-tuning: unfreeze layers and hand their parameters to the optimizer with
        their own learning rate. Options missing from the dict are taken from ``defaults``.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"{self._name}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{self._name}: a parameter group needs a 'params' entry")
        param_group = dict(param_group)
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{self._name}: parameters must be in an ordered collection (a list), "
                            "not a set, whose order changes from run to run")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError(f"{self._name}: {len(names)} of the {len(params)} parameters "
                                 "have names; give all of them names or none")
            param_group["param_names"] = names
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name}: can only optimize Tensors, but parameter {i} of "
                                f"group {len(self.param_groups)} is a {type(p).__name__}")
            if p.dtype.kind != "f":
                raise TypeError(f"{self._name}: can only optimize floating-point Tensors, but "
                                f"parameter {i} of group {len(self.param_groups)} is {p.dtype}")
            if not p.is_leaf:
                raise ValueError(f"{self._name}: can't optimize a non-leaf Tensor (parameter {i} "
                                 f"of group {len(self.param_groups)})")
        param_group["params"] = params
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        if len({id(p) for p in params}) != len(params):
            warnings.warn(f"{self._name}: a parameter group contains duplicate parameters; each "
                          "would be updated more than once per step", stacklevel=3)
        seen = {id(p) for group in self.param_groups for p in group["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError(f"{self._name}: some parameters appear in more than one parameter "
                             "group")
        for group in self.param_groups:
            if ("param_names" in group) != ("param_names" in param_group):
                raise ValueError(f"{self._name}: all parameter groups should be with names or all "
                                 "without; cannot mix them")
        self.param_groups.append(param_group)

    # -------------------------------------------------------------------- step
    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all optimized tensors.

        Parameters
        ----------
        set_to_none : bool
            Default True: set ``.grad`` to None (the next backward allocates it anew, and
            optimizers skip parameters whose grad is None). False fills the gradients with zeros
            in place.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    _array(p.grad)[...] = 0

    def step(self, closure=None):
        """Perform one optimization step (update every parameter that has a gradient).

        Parameters
        ----------
        closure : callable, optional
            Re-evaluates the model and returns the loss; called with gradients enabled before
            the update. Its result is returned.
        """
        if type(self)._kernel is Optimizer._kernel:
            raise NotImplementedError(f"{self._name}: an Optimizer subclass must define step() "
                                      "(or _hyper, _init_state and _kernel)")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            hyper = self._hyper(group)
            params = group["params"]
            small = [p for p in params if p.data.size <= _FLAT_MAX_SIZE]
            if len(small) > 1 and self._flat_step(group, hyper, small):
                if len(small) < len(params):
                    self._tensor_step(hyper, [p for p in params if p.data.size > _FLAT_MAX_SIZE],
                                      group)
            else:
                self._tensor_step(hyper, params, group)
        return loss

    # The built-in optimizers define their update as one elementwise kernel, run either on each
    # parameter's arrays or, for a group's small tensors, once on flat buffers that hold their
    # gradients and state back to back: a few numpy calls per group instead of a dozen per
    # tensor (a LeNet has 10 tensors, 6 of them biases of <= 120 numbers, where the per-call
    # overhead is everything). Tensors larger than _FLAT_MAX_SIZE are updated on their own: for
    # them the call overhead is negligible and gathering the gradient would be an extra pass.
    # Both ways give bitwise identical results.
    def _hyper(self, group):
        """The group's options as plain floats/bools for :meth:`_kernel`, once per step."""
        raise NotImplementedError

    def _init_state(self, group, w):
        """A new state dict for a parameter shaped like array ``w`` (arrays and scalars)."""
        raise NotImplementedError

    def _needs_param(self, hyper):
        """Whether :meth:`_kernel` reads the parameter values (e.g. for weight decay)."""
        return False

    def _kernel(self, hyper, w, g, s, step, out):
        """Compute one update elementwise.

        ``w`` (parameter, read-only; None unless :meth:`_needs_param`), ``g`` (gradient,
        read-only), ``s`` (the state arrays, updated in place; new entries may be added) and
        ``out`` (scratch) all have one shape. ``step`` is the new step count, or None for
        optimizers without one. Writes the update into ``out`` and returns how to apply it:
        None for ``w -= out``, a float ``c`` for ``w *= c; w -= out``, or ``_ASSIGN`` for
        ``w[...] = out``.
        """
        raise NotImplementedError

    def _tensor_step(self, hyper, params, group):
        needs_param = self._needs_param(hyper)
        for p in params:
            g = p.grad
            if g is None:
                continue
            g = g.data if isinstance(g, Tensor) else np.asarray(g)
            w = p.data
            if g.shape != w.shape:
                raise ValueError(f"{self._name}: a parameter of shape {w.shape} has a gradient "
                                 f"of shape {g.shape}")
            state = self.state[p]
            if not state:
                state.update(self._init_state(group, w))
            step = None
            if "step" in state:
                step = state["step"] = state["step"] + 1.0
            out = np.empty_like(w)
            how = self._kernel(hyper, w if needs_param else None, g, state, step, out)
            _apply(w, out, how)

    def _flat_step(self, group, hyper, params):
        """Run the kernel once over ``params`` together; False if they do not allow it."""
        ws, gs = [], []
        for p in params:
            g = p.grad
            if g is None:
                return False
            g = g.data if isinstance(g, Tensor) else g
            w = p.data
            if not isinstance(g, np.ndarray) or g.shape != w.shape or g.dtype != w.dtype:
                return False
            ws.append(w)
            gs.append(g)
        flat = self.__dict__.get("_flat_groups", {}).get(id(group))
        states = [self.state[p] for p in params]
        if flat is None or not flat.matches(group, params, ws, states):
            flat = self._adopt(group, params, ws, states)
            if flat is None:
                return False
        np.concatenate(gs, axis=None, out=flat.g)
        w = None
        if self._needs_param(hyper):
            w = flat.param_buffer()
            np.concatenate(ws, axis=None, out=w)
        step = None
        if flat.has_step:
            step = states[0]["step"] + 1.0
            for state in states:
                state["step"] = step
        n_keys = len(flat.s)
        how = self._kernel(hyper, w, flat.g, flat.s, step, flat.out)
        if len(flat.s) != n_keys:
            flat.share_new_entries()
        for w, upd in zip(ws, flat.out_views):
            _apply(w, upd, how)
        return True

    def _adopt(self, group, params, ws, states):
        """Build a group's flat buffers from its state (fresh or loaded); None if inconsistent."""
        dtype = ws[0].dtype
        if any(w.dtype != dtype for w in ws):
            return None
        total = sum(w.size for w in ws)
        if not any(states):
            template = np.empty(total, dtype=dtype)
            init = self._init_state(group, template)
            arrays = {k: v for k, v in init.items() if isinstance(v, np.ndarray)}
            scalars = {k: v for k, v in init.items() if not isinstance(v, np.ndarray)}
            for state in states:
                state.update(copy.deepcopy(scalars))
        elif all(states):
            first = states[0]
            keys = set(first)
            arrays = {}
            for k in keys:
                if isinstance(first[k], np.ndarray):
                    parts = [state.get(k) for state in states]
                    if any(not isinstance(a, np.ndarray) or a.shape != w.shape
                           for a, w in zip(parts, ws)):
                        return None
                    arrays[k] = np.concatenate(parts, axis=None, dtype=dtype)
            for state in states:
                if set(state) != keys or any(state[k] != first[k] for k in keys
                                             if k not in arrays):
                    return None
        else:
            return None
        flat = _FlatGroup(group, params, ws, states, arrays)
        self.__dict__.setdefault("_flat_groups", {})[id(group)] = flat
        return flat

    # --------------------------------------------------------------- checkpoint
    def state_dict(self):
        """Return the optimizer's state as a dict of plain values (see the module docstring).

        Unlike PyTorch, per-parameter arrays are copies: the result is a snapshot that later
        steps do not change.
        """
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for p, s in self.state.items():
            if id(p) in index and s:
                state[index[id(p)]] = {k: _copy_value(v) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state produced by :meth:`state_dict` (this class's, or PyTorch's same class).

        Raises
        ------
        ValueError
            If the number of groups, the size of a group, or the shape of a state array does not
            match this optimizer's parameters.
        """
        if not isinstance(state_dict, dict) or "state" not in state_dict or \
                "param_groups" not in state_dict:
            raise ValueError(f"{self._name}: load_state_dict expects a dict with 'state' and "
                             "'param_groups' entries")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{self._name}: the loaded state dict has {len(saved_groups)} "
                             f"parameter groups but the optimizer has {len(self.param_groups)}")
        id_map = {}
        for i, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            saved_ids = [int(_plain(k)) for k in _to_list(saved["params"])]
            if len(saved_ids) != len(group["params"]):
                raise ValueError(f"{self._name}: loaded parameter group {i} has "
                                 f"{len(saved_ids)} parameters but the optimizer's has "
                                 f"{len(group['params'])}")
            id_map.update(zip(saved_ids, group["params"]))
        state = defaultdict(dict)
        for key, values in state_dict["state"].items():
            key = int(_plain(key))
            if key not in id_map:
                continue
            p = id_map[key]
            state[p] = {k: _load_value(self._name, key, k, v, p) for k, v in values.items()}
        new_groups = []
        for group, saved in zip(self.param_groups, saved_groups):
            new = {k: _plain_option(v) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            new_groups.append(new)
        self.state = state
        self.param_groups = new_groups
        self.__dict__.pop("_flat_groups", None)


# ---------------------------------------------------------------------------- helpers
_ASSIGN = "assign"
_FLAT_MAX_SIZE = 1 << 16


def _apply(w, upd, how):
    if how is None:
        w -= upd
    elif how is _ASSIGN:
        np.copyto(w, upd)
    else:
        w *= how
        w -= upd


class _FlatGroup:
    """A parameter group's gradients, state and update scratch as flat buffers.

    Each parameter's state entries are reshaped views of the flat state arrays, so the
    per-tensor path (taken on steps where some gradient is missing) and ``state_dict`` see and
    update the same numbers.
    """

    def __init__(self, group, params, ws, states, arrays):
        self.group = group
        self.params = list(params)
        self.shapes = [w.shape for w in ws]
        self.dtype = ws[0].dtype
        self.bounds = []
        start = 0
        for w in ws:
            self.bounds.append((start, start + w.size))
            start += w.size
        self.g = np.empty(start, dtype=self.dtype)
        self.out = np.empty(start, dtype=self.dtype)
        self.out_views = self.views_of(self.out)
        self.w = None
        self.states = states
        self.views = [{} for _ in params]
        self.s = arrays
        self.share_new_entries()
        self.has_step = "step" in states[0]

    def views_of(self, flat):
        return [flat[a:b].reshape(shape) for (a, b), shape in zip(self.bounds, self.shapes)]

    def param_buffer(self):
        if self.w is None:
            self.w = np.empty_like(self.g)
        return self.w

    def share_new_entries(self):
        for key, flat in self.s.items():
            if key in self.views[0]:
                continue
            for state, views, view in zip(self.states, self.views, self.views_of(flat)):
                state[key] = views[key] = view
        self.n_entries = len(self.states[0])

    def matches(self, group, params, ws, states):
        if group is not self.group or len(params) != len(self.params):
            return False
        for p, q, w, shape, state, own, views in zip(params, self.params, ws, self.shapes,
                                                     states, self.states, self.views):
            if p is not q or state is not own or w.shape != shape or w.dtype != self.dtype or \
                    len(state) != self.n_entries:
                return False
            for key, view in views.items():
                if state.get(key) is not view:
                    return False
        if self.has_step:
            step = states[0]["step"]
            return all(state["step"] == step for state in states)
        return True


def _check_number(name, arg, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: {arg} must be a real number, got {type(value).__name__}")


def _check_nonnegative(name, arg, value):
    """PyTorch's ``if not 0.0 <= value: raise ValueError('Invalid ...')``, with the optimizer."""
    _check_number(name, arg, value)
    if not 0.0 <= value:  # also rejects NaN
        raise ValueError(f"{name}: invalid {arg} {value}; it must be >= 0")


def _check_interval(name, arg, value, low, high, high_closed=False):
    _check_number(name, arg, value)
    inside = low <= value <= high if high_closed else low <= value < high
    if not inside:
        bracket = "]" if high_closed else ")"
        raise ValueError(f"{name}: invalid {arg} {value}; it must be in [{low}, {high}{bracket}")


def _array(t):
    return t.data if isinstance(t, Tensor) else t


def _copy_value(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    return copy.deepcopy(v)


def _torch_to_numpy(v):
    # Duck-typed torch.Tensor: tinyconv never imports torch.
    if not isinstance(v, np.ndarray) and hasattr(v, "detach") and hasattr(v, "numpy"):
        return v.detach().cpu().numpy()
    return v


def _plain(v):
    """numpy scalars and 0-d arrays (as ``np.load`` gives them) become Python scalars."""
    v = _torch_to_numpy(v)
    if isinstance(v, np.generic) or (isinstance(v, np.ndarray) and v.ndim == 0):
        return v.item()
    return v


def _to_list(v):
    v = _torch_to_numpy(v)
    return v.tolist() if isinstance(v, np.ndarray) else list(v)


def _plain_option(v):
    v = _plain(v)
    if isinstance(v, np.ndarray):
        return tuple(v.tolist())  # e.g. betas stored as a length-2 array
    if isinstance(v, (list, tuple)):
        return type(v)(_plain(x) for x in v)
    return copy.deepcopy(v)


def _load_value(name, index, key, v, p):
    v = _torch_to_numpy(v)
    if isinstance(v, np.ndarray) and v.ndim > 0:
        if v.shape != p.shape:
            raise ValueError(f"{name}: state '{key}' of parameter {index} has shape {v.shape} "
                             f"but the parameter has shape {p.shape}")
        return np.array(v, dtype=p.dtype, copy=True, order="C")
    v = _plain(v)
    if key == "step":
        return float(v)
    return copy.deepcopy(v)


def _signed_decayed_grad(g, w, weight_decay, maximize):
    """PyTorch's ``grad = -grad if maximize; grad = grad + weight_decay * param``.

    Returns ``g`` itself when neither applies (callers must not write into it: it is the
    parameter's gradient), otherwise a new array.
    """
    if maximize:
        d = np.negative(g)
        if weight_decay != 0:
            d += np.multiply(w, weight_decay)
        return d
    if weight_decay != 0:
        d = np.multiply(w, weight_decay)
        d += g
        return d
    return g


def _lerp_(start, end, weight, scratch):
    """``start.lerp_(end, weight)`` with PyTorch's two formulas (exact at both ends)."""
    np.subtract(end, start, out=scratch)
    if weight < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1.0 - weight
        np.subtract(end, scratch, out=start)
