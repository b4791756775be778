"""PyInstaller runtime hook: adjust libraries as soon as they are imported, not before.

It runs before the app's own code. Importing torch here would delay the first window by ~1.5 s,
so each adjustment waits until its module has finished importing:

* ``optimum.quanto.library.extensions`` (quanto has registered its C++ extensions):
  ``inference.quant_kernels.prepare()`` loads the shipped ``quanto_ext/quanto_cpp.so`` or falls
  back to pure torch, so the frozen app never tries to JIT-compile (no compiler, headers or
  writable folder exist here).
* ``torch``: when the bundle left out cuDNN's lazily loaded sub-libraries (Linux CUDA bundle, see
  packaging/README.md), cuDNN is switched off so a GPU run uses torch's own kernels instead of
  failing to load them. Gemma 4 unified has no convolutions; only attention could pick cuDNN.
"""

import glob
import importlib.abc
import os
import sys


class _RunAfter(importlib.abc.MetaPathFinder):
    """Finds ``name`` with the other finders and runs ``then(module)`` once it has executed."""

    def __init__(self, name, then):
        self.name, self.then = name, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once only; the other finders do the finding
        for finder in sys.meta_path:
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _ThenLoader(spec.loader, self.then)
                return spec
        return None


class _ThenLoader(importlib.abc.Loader):
    def __init__(self, loader, then):
        self._loader, self._then = loader, then

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        try:
            self._then(module)
        except Exception as error:  # an adjustment must never stop the app from starting
            print(f"seesay: runtime hook for {module.__name__} failed: {error!r}", file=sys.stderr)

    def __getattr__(self, name):  # get_source, get_resource_reader, ... of the real loader
        return getattr(self._loader, name)


def _use_prebuilt_quanto_kernels(_module):
    from inference import quant_kernels

    quant_kernels.prepare()


def _cudnn_sublibs_left_out() -> bool:
    lib = os.path.join(getattr(sys, "_MEIPASS", ""), "nvidia", "cudnn", "lib")
    return bool(glob.glob(os.path.join(lib, "libcudnn.so*"))) and not glob.glob(os.path.join(lib, "libcudnn_*"))


def _switch_off_cudnn(torch):
    torch.backends.cudnn.enabled = False
    torch.backends.cuda.enable_cudnn_sdp(False)


sys.meta_path.insert(0, _RunAfter("optimum.quanto.library.extensions", _use_prebuilt_quanto_kernels))
if _cudnn_sublibs_left_out():
    sys.meta_path.insert(0, _RunAfter("torch", _switch_off_cudnn))
