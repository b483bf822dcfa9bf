"""``Module``: the base class of layers and models, with PyTorch's registration rules.

Assigning a :class:`Parameter` to an attribute registers it as a parameter, assigning a Module
registers a child, and :meth:`Module.register_buffer` registers non-learnable state (running
statistics). ``state_dict`` keys are the dotted attribute paths, exactly as in PyTorch
(``features.0.weight``, ``bn1.running_mean``, ``bn1.num_batches_tracked``), and its values are
numpy arrays, so weights can be copied to and from PyTorch with ``torch.from_numpy`` /
``tensor.numpy()``.
"""

from collections import OrderedDict, namedtuple

import numpy as np

from ..tensor import Tensor
from .parameter import Parameter

__all__ = ["Module", "StateDictError"]


class StateDictError(ValueError, RuntimeError):
    """``load_state_dict`` found missing, unexpected or mis-shaped entries.

    A ValueError by this project's convention; also a RuntimeError, which is what PyTorch raises,
    so that ported ``except RuntimeError`` code keeps working.
    """


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _addindent(text, spaces):
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _float_dtype(dtype, op):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: {dtype!r} is not a dtype") from None
    if dt.kind != "f" or dt not in (np.float32, np.float64):
        raise TypeError(f"{op}: only float32 and float64 are supported, got {dt}")
    return dt


def _as_numpy(value):
    """Accept tinyconv Tensors, numpy arrays, scalars and (duck-typed) torch tensors."""
    if isinstance(value, Tensor):
        return value.data
    if not isinstance(value, np.ndarray) and hasattr(value, "detach") and hasattr(value, "numpy"):
        value = value.detach().cpu().numpy()  # a torch.Tensor: no import of torch needed
    return np.asarray(value)


class Module:
    """Base class for all neural-network modules; subclass it and define ``forward``.

    Call the module (``model(x)``), not ``forward``, as in PyTorch. Parameters, buffers and
    children must be assigned after ``super().__init__()``.
    """

    training: bool

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"Module [{type(self).__name__}] is missing the required "
                                  f"\"forward\" function")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    def register_forward_pre_hook(self, hook):
        """``hook(module, args)`` runs before ``forward``; it may return replacement args."""
        return _RemovableHandle(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """``hook(module, args, output)`` runs after ``forward``; it may return a new output."""
        return _RemovableHandle(self._forward_hooks, hook)

    # -------------------------------------------------------------- registration
    def __setattr__(self, name, value):
        params = self.__dict__.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                f"(nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, self.__dict__, self._parameters, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (nn.Module or None expected)")
            self._modules[name] = value
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                f"(Tensor or None expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name, *dicts):
        for d in dicts:
            if name in d:
                del d[name]

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for reg in (self._parameters, self._buffers, self._modules):
            if name in reg:
                del reg[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers)
                      | set(self._modules))

    def _check_name(self, name, kind, registry):
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if name == "":
            raise KeyError(f"{kind} name can't be empty string \"\"")
        if "." in name:
            raise KeyError(f"{kind} name can't contain \".\", got {name!r}")
        # As PyTorch: re-registering under the same kind is fine, taking another's name is not.
        if hasattr(self, name) and name not in registry:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name, param):
        """Add a parameter (a :class:`Parameter` or None) under ``name``."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        self._check_name(name, "parameter", self._parameters)
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (nn.Parameter or None required)")
        if param is not None and not param.is_leaf:
            raise ValueError(f"cannot assign non-leaf Tensor to parameter '{name}'")
        self._buffers.pop(name, None)
        self._modules.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Add non-learnable state (a Tensor or None) under ``name``.

        Persistent buffers appear in :meth:`state_dict`; buffers that are None do not.
        """
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        self._check_name(name, "buffer", self._buffers)
        if tensor is not None and not isinstance(tensor, Tensor):
            if isinstance(tensor, np.ndarray):
                tensor = Tensor._wrap(tensor)
            else:
                raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                                f"'{name}' (Tensor or None required)")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name, module):
        """Add a child module (or None) under ``name``."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module", self._modules)
        self._parameters.pop(name, None)
        self._buffers.pop(name, None)
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target):
        """The submodule at dotted path ``target`` (``''`` is the module itself)."""
        mod = self
        if target == "":
            return mod
        for item in target.split("."):
            if item not in mod._modules or mod._modules[item] is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{item}`")
            mod = mod._modules[item]
        return mod

    def get_parameter(self, target):
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._parameters:
            raise AttributeError(f"{type(mod).__name__} has no parameter `{name}`")
        return mod._parameters[name]

    # ------------------------------------------------------------------ iteration
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """Yield ``(dotted_name, module)`` for this module and all descendants, pre-order."""
        stack = [(prefix, self)]
        memo = set() if memo is None else memo
        while stack:
            name, mod = stack.pop()
            if remove_duplicate:
                if id(mod) in memo:
                    continue
                memo.add(id(mod))
            yield name, mod
            children = [(name + ("." if name else "") + k, m) for k, m in mod._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        seen = set()
        for mod_prefix, mod in mods:
            for k, v in getattr(mod, registry).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """Yield ``(dotted_name, parameter)``; a parameter shared by two modules comes once."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -------------------------------------------------------------------- modes
    def train(self, mode=True):
        """Set training mode (Dropout drops, BatchNorm uses batch statistics) recursively."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self):
        """Set evaluation mode; same as ``train(False)``."""
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Reset the gradients of all parameters (to None by default, as PyTorch 2.x)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad.zero_()

    # ------------------------------------------------------------- conversion
    def apply(self, fn):
        """Call ``fn`` on every submodule (children first) and on ``self``; return ``self``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def _cast_floats(self, dtype):
        # Parameters keep their identity (an optimizer built earlier still sees them): only the
        # arrays are replaced, as PyTorch's module.to() does with param.data.
        for m in self.modules():
            for p in m._parameters.values():
                if p is not None and p.dtype.kind == "f" and p.dtype != dtype:
                    p.data = p.data.astype(dtype)
                    if p.grad is not None:
                        p.grad.data = p.grad.data.astype(dtype)
            for b in m._buffers.values():
                if b is not None and b.dtype.kind == "f" and b.dtype != dtype:
                    b.data = b.data.astype(dtype)
        return self

    def to(self, *args, **kwargs):
        """``to(dtype)``, ``to('cpu')``, ``to(device, dtype)``, ``to(tensor)`` or keywords.

        Floating-point parameters and buffers are cast in place; integer buffers
        (``num_batches_tracked``) are left alone. tinyconv runs on the CPU only.
        """
        device = kwargs.pop("device", None)
        dtype = kwargs.pop("dtype", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) or a is None or type(a).__name__ == "device":
                device = a
            elif isinstance(a, bool):
                continue  # non_blocking
            else:
                dtype = a
        if device is not None and str(device).split(":")[0] != "cpu":
            raise ValueError(f"to(): tinyconv runs on the CPU only, got device {device!r}")
        if dtype is not None:
            self._cast_floats(_float_dtype(dtype, "to()"))
        return self

    def cpu(self):
        return self

    def float(self):
        """Cast floating-point parameters and buffers to float32."""
        return self._cast_floats(np.dtype(np.float32))

    def double(self):
        """Cast floating-point parameters and buffers to float64."""
        return self._cast_floats(np.dtype(np.float64))

    def type(self, dst_type):
        return self._cast_floats(_float_dtype(dst_type, "type()"))

    # --------------------------------------------------------------- state dict
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted name, as numpy arrays.

        The arrays are the module's own (shared, like PyTorch's detached tensors): copy them
        (``copy.deepcopy``) to keep a snapshot while training continues. ``keep_vars=True``
        returns the Tensors themselves.
        """
        out = OrderedDict() if destination is None else destination
        for mod_prefix, mod in self.named_modules(prefix=prefix.rstrip("."),
                                                  remove_duplicate=False):
            dot = mod_prefix + ("." if mod_prefix else "")
            for k, p in mod._parameters.items():
                if p is not None:
                    out[dot + k] = p if keep_vars else p.data
            for k, b in mod._buffers.items():
                if b is not None and k not in mod._non_persistent_buffers_set:
                    out[dot + k] = b if keep_vars else b.data
        return out

    def load_state_dict(self, state_dict, strict=True, assign=False):
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Values may be numpy arrays, tinyconv Tensors or torch tensors; they are cast to each
        parameter's dtype. Shape mismatches always raise; with ``strict`` missing and unexpected
        keys raise too (:class:`StateDictError`, listing all problems). Returns
        ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        errors = []
        staged = []
        for k, t in own.items():
            if k not in state_dict:
                continue
            try:
                value = _as_numpy(state_dict[k])
            except Exception as exc:  # noqa: BLE001 - reported with the key
                errors.append(f"{k}: could not convert {type(state_dict[k]).__name__} to an "
                              f"array ({exc})")
                continue
            if value.shape != t.shape:
                errors.append(f"size mismatch for {k}: copying a param with shape {value.shape} "
                              f"from checkpoint, the shape in current model is {t.shape}")
                continue
            staged.append((t, value))
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in unexpected) + ".")
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: "
                              + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                                 + "\n\t".join(errors))
        # Only touch the module once everything checked out, so a failed load changes nothing.
        for t, value in staged:
            if assign:
                t.data = np.array(value, dtype=t.dtype)
            else:
                np.copyto(t.data, value, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    # --------------------------------------------------------------------- repr
    def extra_repr(self):
        """Extra text inside the parentheses of this module's repr; override in layers."""
        return ""

    def _get_name(self):
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for key, module in self._modules.items():
            lines.append(f"({key}): " + _addindent(repr(module), 2))
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


class _RemovableHandle:
    _next_id = 0

    def __init__(self, registry, hook):
        self.registry = registry
        self.id = _RemovableHandle._next_id
        _RemovableHandle._next_id += 1
        registry[self.id] = hook

    def remove(self):
        self.registry.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


def _factory_dtype(device, dtype, layer):
    """Resolve the ``device``/``dtype`` factory arguments of a layer constructor."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"{layer}: tinyconv runs on the CPU only, got device {device!r}")
    return np.dtype(np.float32) if dtype is None else _float_dtype(dtype, layer)


def _check_size(layer, name, value, minimum=1):
    """A non-bool int >= ``minimum`` (ValueError/TypeError naming the layer otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{layer}: {name} must be an int, got {value!r}")
    if value < minimum:
        what = "positive" if minimum == 1 else f"at least {minimum}"
        raise ValueError(f"{layer}: {name} must be {what}, got {value}")
    return int(value)
