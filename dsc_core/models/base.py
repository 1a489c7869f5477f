"""What every coding stage shares: entropy-model upkeep, the aux loss, and one set of verbs and dict keys.

CompressAI's ``CompressionModel`` (Bégaint et al., "CompressAI", 2020) owns ``update()``, the aux loss and
the resizing of the CDF-table buffers when a state dict is loaded; its ``latent_codecs`` give every stage
the same verbs returning the same dict keys. :class:`CodingModule` is that, for dsc_core's stages, without
importing ``compressai.models`` (its package ``__init__`` imports the whole model zoo, see
``dsc_core._compressai``) and with the CDF indices of ``dsc_core.entropy``::

                      forward(x | y, rates)                  training (noise / straight-through rounding)
    x | y ─▶ stage ─▶ {"y_hat", "likelihoods": {name: p}, ...}
                      compress(x | y, rate)                  real rANS strings, a batch of one
          ─▶ stage ─▶ {"strings": [bytes, ...], "shapes": [(C, h, w), ...], "index_crcs": [int, ...], ...}
                      decompress(strings, shapes, rate, index_crcs=None)
          ─▶ stage ─▶ {"y_hat", ...}

One entry of ``strings``, ``shapes`` and ``index_crcs`` per entropy-coded string, in container order (the
container stores exactly these three per string, ``dsc_core.container.StringInfo``). ``index_crcs`` holds
the CRC32 of the CDF-index map a string was coded with, 0 for strings without indices (factorized models,
the uncoded 4-bit code); a decoder given them checks its own indices before decoding. ``y_hat`` is always
the latent the stage reconstructs in level-1 units (level 1's decoded latent; level 2's estimate of the
right latent). Stage-specific extras: ``x_hat`` (level 1's decoded image), ``y`` (level 1's analysis, in
``forward``) and ``symbols`` (level 1's coded y symbols, for bit-exactness checks).

The CDF tables of a shipped weights file are *stored*, not rebuilt (``weights_io``): :meth:`update` is for
training and for ``weights_io`` when it writes a file, never for a loaded codec.
"""

from __future__ import annotations

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)

# isort: split
import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck, GaussianConditional

from dsc_core import entropy

#: State-dict suffixes of the entropy models' CDF-table buffers, whose sizes ``update()`` changes.
TABLE_SUFFIXES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass (straight-through estimator)."""
    return x + (torch.round(x) - x).detach()


def entropy_models(module: nn.Module):
    """Every ``EntropyBottleneck`` and ``GaussianConditional`` below ``module``, as (name, module) pairs."""
    return [(n, m) for n, m in module.named_modules() if isinstance(m, (EntropyBottleneck, GaussianConditional))]


def update_entropy_models(module: nn.Module, force: bool = False, scale_table: torch.Tensor | None = None) -> bool:
    """Build the CDF tables of every entropy model below ``module`` (CompressAI's ``update()``).

    Gaussian conditionals get ``scale_table`` (default: ``entropy.SCALE_TABLE``, the float64 table whose
    boundaries ``entropy.scale_indexes`` uses, as float32). Returns True if any table was (re)built.
    """
    table = entropy.SCALE_TABLE.float() if scale_table is None else scale_table
    updated = False
    for _, m in entropy_models(module):
        if isinstance(m, GaussianConditional):
            updated |= m.update_scale_table(table, force=force)  # also rebuilds the Gaussian CDFs
        else:
            updated |= m.update(force=force)
    return updated


def aux_loss(module: nn.Module) -> torch.Tensor:
    """Sum of the ``EntropyBottleneck`` quantile losses below ``module`` (CompressAI's aux loss), which
    trains only their ``quantiles``; a zero tensor when there are none."""
    total = None
    for _, m in entropy_models(module):
        if isinstance(m, EntropyBottleneck):
            total = m.loss() if total is None else total + m.loss()
    if total is None:
        p = next(module.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else "cpu")
    return total


def resize_table_buffers(module: nn.Module, state: dict) -> None:
    """Resize the CDF-table buffers of ``module`` to the shapes stored in ``state`` (``update()`` grows
    them from empty), so that ``load_state_dict`` accepts a state that carries tables."""
    own = dict(module.named_buffers())
    for k, v in state.items():
        if k.endswith(TABLE_SUFFIXES) and k in own and own[k].shape != v.shape:
            owner_name, _, attr = k.rpartition(".")
            owner = module.get_submodule(owner_name) if owner_name else module
            getattr(owner, attr).resize_(v.shape)


class CodingModule(nn.Module):
    """Base of the coding stages (level 1, level 2, the paper's level 2) and of the right heads.

    Owns what CompressAI's ``CompressionModel`` owns: :meth:`update`, :meth:`aux_loss` and the table-buffer
    resizing in :meth:`load_state_dict`. Subclasses define ``lambdas`` (one per rate point) and the verbs
    ``forward``/``compress``/``decompress`` with the keys of this module's docstring.
    """

    lambdas: tuple = ()

    @property
    def num_rates(self) -> int:
        """Number of rate points (one per lambda)."""
        return len(self.lambdas)

    def update(self, force: bool = False, scale_table: torch.Tensor | None = None) -> bool:
        """Build the CDF tables of every entropy model of this module; call after training, before coding.

        See :func:`update_entropy_models`. Returns True if any table was (re)built.
        """
        return update_entropy_models(self, force=force, scale_table=scale_table)

    def aux_loss(self) -> torch.Tensor:
        """The quantile (aux) loss of this module's entropy bottlenecks; see :func:`aux_loss`."""
        return aux_loss(self)

    def load_state_dict(self, state_dict, *args, **kwargs):
        """``nn.Module.load_state_dict`` after resizing the CDF-table buffers to the stored tables."""
        resize_table_buffers(self, state_dict)
        return super().load_state_dict(state_dict, *args, **kwargs)

    def _device(self) -> torch.device:
        return next(self.parameters()).device
