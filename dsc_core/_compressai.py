"""Import CompressAI's coding blocks without running its package ``__init__``.

Why: ``import compressai`` imports every sub-package, including ``compressai.datasets`` (point clouds:
torch_geometric, which pulls in torch._dynamo) and the model zoo. On the 2-core target that is 3.5 s of a
5-s node start, and a node restarted after a crash is blind for all of it (issue 6: resume within 2 s).
We use only ``entropy_models``, ``layers``, ``ops``, ``ans`` and ``_CXX``, which need nothing from the
package top level except the entropy-coder selection functions. So, unless CompressAI is already imported,
this registers a package object for ``compressai`` with the real ``__path__`` (so every submodule still
imports normally, on demand) and those few functions, with the same defaults as CompressAI 1.2.

Likewise ``scipy.stats`` (0.6 s more): ``compressai.entropy_models`` imports it at its top but calls it only
in ``update()`` (``norm.ppf`` for the tail mass), which a node never runs because the weights carry their CDF
tables. Until something uses it, ``scipy.stats`` is a placeholder module whose first attribute access
imports the real one and puts it in its place (the standard library's ``LazyLoader`` cannot do this: the
import statement itself touches ``__spec__``, which makes a lazy module load at once).

``DSC_FULL_COMPRESSAI=1`` turns this off (plain ``import compressai``), e.g. to rule it out in a bug report.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any


def _defer_scipy_stats() -> None:
    name = "scipy.stats"
    if name in sys.modules or importlib.util.find_spec("scipy") is None:
        return
    real_spec = importlib.util.find_spec(name)
    # Any: module objects built at run time, given attributes (and a PEP 562 __getattr__) that no stub declares.
    placeholder: Any = types.ModuleType(name, "placeholder: the real scipy.stats loads on first use")
    placeholder.__spec__ = real_spec  # what `import scipy.stats` checks; the module itself is not run

    def __getattr__(attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]
        real = importlib.import_module(name)
        scipy: Any = sys.modules["scipy"]
        if scipy.__dict__.get("stats") is placeholder:
            scipy.stats = real
        placeholder.__dict__.update({k: v for k, v in real.__dict__.items() if k != "__getattr__"})
        return getattr(real, attr)

    placeholder.__getattr__ = __getattr__
    sys.modules[name] = placeholder


def _install() -> None:
    if "compressai" in sys.modules or os.environ.get("DSC_FULL_COMPRESSAI") == "1":
        return
    spec = importlib.util.find_spec("compressai")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("compressai is not installed (see requirements.txt for the pinned version)")
    _defer_scipy_stats()
    pkg: Any = types.ModuleType("compressai")
    pkg.__spec__, pkg.__file__, pkg.__package__ = spec, spec.origin, "compressai"
    pkg.__path__ = list(spec.submodule_search_locations)
    pkg._entropy_coder = "ans"
    pkg._available_entropy_coders = ["ans"]

    def set_entropy_coder(entropy_coder):
        if entropy_coder not in pkg._available_entropy_coders:
            raise ValueError(
                f'Invalid entropy coder "{entropy_coder}", choose from ({", ".join(pkg._available_entropy_coders)}).'
            )
        pkg._entropy_coder = entropy_coder

    def __getattr__(name):  # PEP 562: `compressai.zoo` etc. still work after a plain `import compressai`
        if name == "__version__":
            return importlib.import_module("compressai.version").__version__
        try:
            return importlib.import_module(f"compressai.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'compressai' has no attribute {name!r}") from None

    pkg.set_entropy_coder = set_entropy_coder
    pkg.get_entropy_coder = lambda: pkg._entropy_coder
    pkg.available_entropy_coders = lambda: list(pkg._available_entropy_coders)
    pkg.__getattr__ = __getattr__
    sys.modules["compressai"] = pkg


_install()
