"""Evaluation of the stereo codec against independent coding and standard codecs (``dsc eval``).

metrics   PSNR, MS-SSIM, bpp -- one implementation for every codec, so comparisons are like for like
baselines JPEG / WebP / AVIF (Pillow) and HEVC intra (ffmpeg + libx265): rate search, RD curves
bdrate    Bjøntegaard delta rate / PSNR (cubic, PCHIP), None with a reason where undefined
report    fixed-width table, JSON, RD plot
runner    run_eval(): everything above on the same pairs in one run; CLI glue (add_eval_arguments, main_eval)

Importing this package loads torch (MS-SSIM runs on it); matplotlib, ffmpeg and the codec are only
touched when used.
"""

from .bdrate import BDResult, bd_psnr, bd_rate  # noqa: F401
from .metrics import bpp, ms_ssim, psnr  # noqa: F401


def run_eval(*args, **kwargs):
    """See :func:`dsc_core.eval.runner.run_eval`."""
    from .runner import run_eval as _run

    return _run(*args, **kwargs)
