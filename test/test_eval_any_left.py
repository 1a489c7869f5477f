"""``dsc eval --left-codec``: the right with any left stream, and whole pairs (dsc_core/eval/any_left.py)."""

import argparse
import json

import numpy as np
import pytest

from dsc_core import left_codecs
from dsc_core.eval.any_left import run_any_left
from dsc_core.eval.runner import add_eval_arguments, main_eval


@pytest.fixture(scope="module")
def result(small_pair, codec, tmp_path_factory):
    if not left_codecs.get("avif").availability()[0]:
        pytest.skip("no AVIF in this Pillow")
    d = tmp_path_factory.mktemp("anyleft")
    import io

    out = io.StringIO()
    res = run_any_left(
        [small_pair],
        codecs=("avif",),
        qualities={"avif": (30, 80)},
        right_rates=[0, 2],
        level1_rates=[0, 3],
        json_path=d / "r.json",
        plot_path=d / "r.png",
        threads=1,
        progress=False,
        out=out,
    )
    return res, out.getvalue(), d


def test_every_left_with_every_right_rate(result, small_pair):
    res, text, _ = result
    got = {(p["left_codec"], p["left_q"], p["right_rate"]) for p in res["right_with"]}
    assert got == {(c, q, r) for c, qs in (("level1", (0, 3)), ("avif", (30, 80))) for q in qs for r in (0, 2)}
    for p in res["right_with"]:
        assert np.isfinite(p["right_psnr"]) and p["right_bpp"] > 0 and p["left_bpp"] > 0
        assert p["gain_db"] == pytest.approx(p["right_psnr"] - p["right_psnr_no_left"])
    lowest = {
        p["right_rate"]: p["right_psnr"] for p in res["right_with"] if p["left_codec"] == "level1" and p["left_q"] == 0
    }
    for p in res["right_with"]:
        assert p["vs_lowest_level1_left_db"] == pytest.approx(p["right_psnr"] - lowest[p["right_rate"]])
    # the same right code with every left: the right's bits do not depend on the left
    assert len({(p["right_rate"], p["right_bpp"]) for p in res["right_with"]}) == 2
    assert "the right with any left" in text and "avif left + our right" in text


def test_pairs_count_both_views(result, small_pair):
    res, text, d = result
    h, w = small_pair[0].shape[:2]
    assert set(res["pairs"]) == {"level1 left + our right", "level 1 on both", "avif left + our right", "avif on both"}
    for pts in res["pairs"].values():
        for p in pts:
            assert p["pair_bpp"] == pytest.approx((p["left_bpp"] + p["right_bpp"]) / 2)
            assert p["mean_psnr"] == pytest.approx((p["left_psnr"] + p["right_psnr"]) / 2)
    # AVIF on both views at a quality codes the right with AVIF too: the same left stream (ours adds the
    # container's 64 bytes, counted), a much dearer right
    ours, both = res["pairs"]["avif left + our right"], res["pairs"]["avif on both"]
    for a, b in zip(ours, both):
        assert a["left_psnr"] == b["left_psnr"]
        assert (a["left_bpp"] - b["left_bpp"]) * h * w / 8 == pytest.approx(64)
    assert all(a["right_bpp"] < b["right_bpp"] for a, b in zip(ours, both))
    assert "avif left + our right vs avif on both" in res["pair_bd_rate"]
    back = json.loads((d / "r.json").read_text())
    assert back["meta"]["left_codecs"] == ["avif"] and (d / "r.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_glue_and_clear_errors(capsys):
    p = argparse.ArgumentParser()
    add_eval_arguments(p)
    assert main_eval(p.parse_args(["--pairs", "motorcycle", "--left-codec", "webp", "--no-progress"])) == 2
    assert "webp" in capsys.readouterr().err
    assert main_eval(p.parse_args(["--single", "motorcycle", "--left-codec", "avif"])) == 2
    assert "--pairs only" in capsys.readouterr().err
