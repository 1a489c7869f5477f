"""Entropy coding with indices that are the same on every machine.

Learned codecs break *silently* when the encoder and the decoder compute the hyperprior's scales with
slightly different floating point (CPU vs GPU, thread counts, vector kernels): one latent whose scale
lies near a boundary of the scale table gets another CDF index at the decoder, and from there rANS
decodes garbage. dsc_core closes that hole in two ways:

1. **Exact-in-practice indices.** The hyper-synthesis ``h_s`` that produces (scale, mean) runs in
   float64 on the CPU, on the tiny hyper-latent grid (1/64 of the image side), whatever device runs the
   rest of the model. float64 rounding differences between kernels are ~1e-16 relative, so for an index
   to flip a scale must fall within ~1e-14 of one of 63 table boundaries; with ~10^5 latents a frame that
   is a chance of about 1e-8 per frame.
2. **Detection of the rest.** The encoder stores a CRC32 of its index map in the container. The decoder
   recomputes its own indices and compares *before* decoding; a mismatch raises
   :class:`~dsc_core.errors.NonDeterminismError` instead of returning garbage.

The rANS coder is CompressAI's compiled ``compressai.ans`` (the same one ``EntropyModel.compress`` uses).
"""

from __future__ import annotations

import copy
import math
import weakref
import zlib

import numpy as np
import torch

from dsc_core import _compressai  # noqa: F401  (before any compressai import: skips its heavy __init__)
from dsc_core.errors import BitstreamError, NonDeterminismError

#: Scale table shared by every Gaussian conditional (CompressAI's ``get_scale_table()``: 64 levels,
#: log-spaced from 0.11 to 256), kept in float64 so the index boundaries are exact.
SCALE_BOUND = 0.11
SCALE_TABLE = torch.exp(torch.linspace(math.log(0.11), math.log(256.0), 64, dtype=torch.float64))

_F64_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, tuple] = weakref.WeakKeyDictionary()


def full_precision(device) -> torch.autocast:
    """A region where autocast is off: entropy models compute likelihoods and rounding in float32 even
    when the surrounding transforms train under bf16 autocast (the GPU training kit)."""
    kind = device.type if isinstance(device, torch.device) else str(device).split(":")[0]
    return torch.autocast(device_type=kind, enabled=False)


def _weights_key(module: torch.nn.Module) -> tuple:
    return tuple((p.data_ptr(), p._version) for p in module.parameters())


def exact_hyper_params(h_s: torch.nn.Module, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``h_s`` in float64 on the CPU; return (scales, means), float64 CPU tensors.

    The float64 copy of ``h_s`` is cached per module and rebuilt when its weights change (training).
    """
    key = _weights_key(h_s)
    cached = _F64_CACHE.get(h_s)
    if cached is None or cached[0] != key:
        twin = copy.deepcopy(h_s).to(device="cpu", dtype=torch.float64).eval()
        _F64_CACHE[h_s] = (key, twin)
    else:
        twin = cached[1]
    with torch.inference_mode():
        params = twin(z_hat.detach().to(device="cpu", dtype=torch.float64))
    scales, means = params.chunk(2, 1)
    return scales, means


def scale_indexes(scales: torch.Tensor) -> torch.Tensor:
    """CDF index of every scale: the number of table boundaries strictly below it (int32).

    Same rule as CompressAI's ``GaussianConditional.build_indexes`` (scales are lower-bounded at 0.11),
    computed in float64 against the float64 table.
    """
    s = scales.to(torch.float64).clamp_min(SCALE_BOUND)
    return torch.bucketize(s, SCALE_TABLE[:-1], right=False).to(torch.int32)


def index_crc(indexes: torch.Tensor) -> int:
    """CRC32 of an index map (the value stored in the container)."""
    return zlib.crc32(indexes.to(torch.int8).contiguous().numpy().tobytes()) & 0xFFFFFFFF


def check_index_crc(indexes: torch.Tensor, expected: int) -> None:
    got = index_crc(indexes)
    if got != expected:
        raise NonDeterminismError(
            f"entropy-model indices differ from the encoder's (crc {got:08x} != {expected:08x}): the "
            "decoder computed the hyperprior differently from the encoder (other model weights or other "
            "floating point). Refusing to decode garbage; check that both sides run the same model."
        )


class _CdfTables:
    """Python lists of a conditional's CDF tables, built once (``tolist()`` per frame costs ms)."""

    def __init__(self, module):
        self.cdf = module._quantized_cdf.tolist()
        self.lengths = module._cdf_length.reshape(-1).int().tolist()
        self.offsets = module._offset.reshape(-1).int().tolist()
        self.key = (module._quantized_cdf.data_ptr(), module._quantized_cdf._version)


_CDF_CACHE: weakref.WeakKeyDictionary[torch.nn.Module, _CdfTables] = weakref.WeakKeyDictionary()


def _tables(module) -> _CdfTables:
    if module._quantized_cdf.numel() == 0:
        raise RuntimeError("entropy model has no CDF tables: call model.update() after loading weights")
    t = _CDF_CACHE.get(module)
    if t is None or t.key != (module._quantized_cdf.data_ptr(), module._quantized_cdf._version):
        t = _CdfTables(module)
        _CDF_CACHE[module] = t
    return t


def gaussian_encode(
    conditional, y_s: torch.Tensor, indexes: torch.Tensor, means: torch.Tensor
) -> tuple[bytes, torch.Tensor]:
    """rANS-encode ``round(y_s - means)`` with the CDFs chosen by ``indexes``; return (string, symbols)."""
    from compressai.ans import RansEncoder

    symbols = torch.round(y_s.detach().to(device="cpu", dtype=torch.float64) - means).to(torch.int32)
    t = _tables(conditional)
    string = RansEncoder().encode_with_indexes(
        symbols.reshape(-1).tolist(), indexes.reshape(-1).tolist(), t.cdf, t.lengths, t.offsets
    )
    return string, symbols


def safe_rans_decode(string: bytes, indexes: list[int], t: _CdfTables) -> list[int]:
    """Decode with CompressAI's rANS, guarding its unchecked reads.

    ``compressai.ans`` reads 32-bit words past the end of a string without bounds checks when the string is
    shorter than the symbols need (a truncated or forged code). We hand it a copy padded with zero words,
    enough for one renormalisation per symbol, so such reads stay inside our buffer; the result of a forged
    string is then wrong numbers (caught upstream by CRCs), never a read outside memory we own.
    """
    from compressai.ans import RansDecoder

    if len(string) < 8:
        raise BitstreamError(f"entropy-coded string of {len(string)} bytes is too short (need >= 8)")
    padded = bytes(string) + bytes(4 * (len(indexes) + 64))
    return RansDecoder().decode_with_indexes(padded, indexes, t.cdf, t.lengths, t.offsets)


def gaussian_decode(conditional, string: bytes, indexes: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`gaussian_encode`: the integer symbols, shaped like ``indexes``."""
    t = _tables(conditional)
    values = safe_rans_decode(string, indexes.reshape(-1).tolist(), t)
    return torch.tensor(values, dtype=torch.int32).reshape(indexes.shape)


def bottleneck_encode(bottleneck, w: torch.Tensor) -> tuple[bytes, torch.Tensor]:
    """Code a latent with a factorized ``EntropyBottleneck`` (per-channel CDFs: no index to disagree on).

    Returns (string, w_hat): ``w_hat = round(w - medians) + medians`` as float32, exactly the tensor
    :func:`bottleneck_decode` returns for that string.
    """
    from compressai.ans import RansEncoder

    medians = bottleneck._get_medians().detach().to(device="cpu", dtype=torch.float64)
    symbols = torch.round(w.detach().to(device="cpu", dtype=torch.float64) - medians).to(torch.int32)
    indexes = _channel_indexes(symbols.shape)
    t = _tables(bottleneck)
    string = RansEncoder().encode_with_indexes(
        symbols.reshape(-1).tolist(), indexes.reshape(-1).tolist(), t.cdf, t.lengths, t.offsets
    )
    return string, (symbols.to(torch.float64) + medians).to(torch.float32)


def bottleneck_decode(bottleneck, string: bytes, shape: tuple) -> torch.Tensor:
    """Inverse of :func:`bottleneck_encode`: returns the dequantized float32 latent (symbols + medians)."""
    medians = bottleneck._get_medians().detach().to(device="cpu", dtype=torch.float64)
    indexes = _channel_indexes(shape)
    t = _tables(bottleneck)
    values = safe_rans_decode(string, indexes.reshape(-1).tolist(), t)
    symbols = torch.tensor(values, dtype=torch.int32).reshape(shape)
    return (symbols.to(torch.float64) + medians).to(torch.float32)


def _channel_indexes(shape) -> torch.Tensor:
    n, c, h, w = shape
    return torch.arange(c, dtype=torch.int32).view(1, c, 1, 1).expand(n, c, h, w)


def pack_nibbles(values: np.ndarray) -> bytes:
    """Pack integers in [0, 15] two per byte (high nibble first); used by the paper-faithful level 2."""
    v = np.asarray(values, dtype=np.uint8).reshape(-1)
    if v.size and int(v.max()) > 15:
        raise ValueError("nibble values must be in 0..15")
    if v.size % 2:
        v = np.concatenate([v, np.zeros(1, np.uint8)])
    return ((v[0::2] << 4) | v[1::2]).astype(np.uint8).tobytes()


def unpack_nibbles(data: bytes, count: int) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: the first ``count`` values."""
    need = (count + 1) // 2
    if len(data) != need:
        raise BitstreamError(f"4-bit code holds {len(data)} bytes, {need} expected for {count} values")
    b = np.frombuffer(data, dtype=np.uint8)
    out = np.empty(b.size * 2, np.uint8)
    out[0::2], out[1::2] = b >> 4, b & 15
    return out[:count]
