"""Report rendering on a hand-made results dict (the runner's layout), independent of the codec."""

import json
import math

import pytest

from dsc_core.eval import report
from dsc_core.eval.bdrate import bd_rate


def _pt(bpp, psnr, ms, **kw):
    return {"bpp": bpp, "psnr": psnr, "ms_ssim": ms, **kw}


def _bd(value, reason=""):
    return {
        "value": value,
        "n": int(value is not None),
        "of": 1,
        "method": "cubic" if value is not None else "",
        "reason": reason,
    }


@pytest.fixture
def results():
    base = {
        "jpeg": {"available": True, "reason": "", "label": "JPEG"},
        "hevc": {"available": False, "reason": "ffmpeg not found (install ffmpeg with libx265)", "label": "HEVC"},
    }
    points = [
        _pt(
            0.03,
            30.0,
            0.95,
            rate=0,
            pair_bpp=0.265,
            enc_ms=20.0,
            dec_ms=40.0,
            dsc_gain_db=None,
            rate_saving_pct=None,
            level1_matched=_pt(0.2, 29.0, 0.94, rate=0, rates=[0]),
            baselines={
                "jpeg": _pt(
                    0.18,
                    24.0,
                    0.8,
                    quality_param=1,
                    reached=0,
                    of=1,
                    note="cannot reach 0.030 bpp on 1/1 pair(s) (lowest 0.180 bpp)",
                )
            },
        ),
        _pt(
            0.06,
            32.0,
            0.97,
            rate=1,
            pair_bpp=0.28,
            enc_ms=21.0,
            dec_ms=41.0,
            dsc_gain_db=2.5,
            rate_saving_pct=40.0,
            level1_matched=_pt(0.2, 29.0, 0.94, rate=0, rates=[0]),
            baselines={"jpeg": _pt(0.18, 24.0, 0.8, quality_param=1, reached=0, of=1, note="cannot reach")},
        ),
    ]
    curves = {
        "dsc": [_pt(0.03, 30.0, 0.95), _pt(0.06, 32.0, 0.97)],
        "level1": [_pt(0.2, 29.0, 0.94), _pt(0.5, 33.0, 0.97), _pt(1.0, math.inf, 1.0)],
        "left": [_pt(0.2, 28.0, 0.93), _pt(0.5, 32.5, 0.97)],
        "jpeg": [_pt(0.18, 24.0, 0.8), _pt(0.6, 30.0, 0.93), _pt(1.2, 34.0, 0.97)],
    }
    model = {
        "name": "dsc-default",
        "left_rate": 2,
        "left_rates": [0, 1, 2],
        "right_rates": [0, 1],
        "notes": [],
        "summary": "test model",
        "left": _pt(0.5, 32.5, 0.97, rate=2, enc_ms=30.0, dec_ms=35.0),
        "points": points,
        "equal_quality": {
            "jpeg": _pt(
                0.9,
                32.1,
                0.95,
                quality_param=40,
                reached=1,
                of=1,
                ours_bpp=0.06,
                ours_psnr=32.0,
                rate_saving_pct=93.3,
                n_saving=1,
                note="",
            )
        },
        "curves": curves,
        "bd_rate": {
            "level1": {"psnr": _bd(-61.2), "ms_ssim": _bd(-40.0)},
            "jpeg": {"psnr": _bd(None, "quality ranges do not overlap (anchor ...)"), "ms_ssim": _bd(-80.0)},
        },
        "per_pair": [],
    }
    meta = {
        "pairs": "synthetic:1",
        "n_pairs": 1,
        "pair_names": ["s0"],
        "sizes": [[64, 128]],
        "models": ["dsc-default"],
        "device": "cpu",
        "ms_ssim_scales": 3,
        "wall_s": 1.0,
        "definitions": {
            "bpp": "bpp = bytes*8/(H*W); pair bpp = (left bits + right bits)/(2*H*W)",
            "dsc_gain": "DSC gain = ...",
            "bd_rate": "BD-rate: ...",
        },
    }
    return {"meta": meta, "baselines": base, "models": {"dsc-default": model}}


def test_table_has_every_block_and_the_definitions(results):
    t = report.format_table(results)
    for needle in (
        "dsc eval: 1 pair(s) from synthetic:1 (64x128)",
        "== dsc-default",
        "left rate 2",
        "Right image at matched rate",
        "level 1 alone",
        "JPEG",
        "1*",
        "cannot reach 0.030 bpp",
        "HEVC",
        "unavailable: ffmpeg not found",
        "Equal quality",
        "+93.3",
        "BD-rate of the right image",
        "-61.20",
        "n/a",
        "quality ranges do not overlap",
        "+2.50",
        "pair bpp = (left bits + right bits)/(2*H*W)",
        "MS-SSIM used 3 scale(s)",
    ):
        assert needle in t, needle
    lines = t.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("view"))
    block = lines[i : i + 5]  # header, rule, left, right r0, right r1
    assert [b.split()[0] for b in block[2:]] == ["left", "right", "right"]
    assert len({len(b) for b in block}) == 1  # fixed width: every row as wide as the rule


def test_json_is_strict_and_maps_inf_to_null(results, tmp_path):
    results["models"]["dsc-default"]["bd_rate"]["extra"] = {"psnr": bd_rate([1, 2], [30, 31], [1, 2], [50, 51])}
    path = tmp_path / "sub" / "eval.json"
    report.write_json(results, path)
    text = path.read_text()
    assert "Infinity" not in text and "NaN" not in text
    back = json.loads(text)
    assert back["models"]["dsc-default"]["curves"]["level1"][2]["psnr"] is None
    assert back["models"]["dsc-default"]["bd_rate"]["extra"]["psnr"]["value"] is None  # dataclass serialised
    assert back["baselines"]["hevc"]["available"] is False


def test_plot_is_a_png(results, tmp_path):
    path = tmp_path / "rd.png"
    report.plot_rd(results, path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
