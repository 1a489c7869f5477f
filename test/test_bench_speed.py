"""scripts/bench_speed.py (the decoder-cost table issue 13 asks for) and scripts/compare_weights.py run and print what
they should, so they cannot rot between the sessions that quote them."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_speed_prints_every_step(capsys):
    spec = importlib.util.spec_from_file_location("bench_speed", ROOT / "scripts" / "bench_speed.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import torch

    threads = torch.get_num_threads()
    try:
        assert mod.main(["--size", "64x128", "--repeats", "1", "--threads", "1"]) == 0
        assert mod.main(["--size", "64x128", "--repeats", "1", "--threads", "1", "--level1-sizes", "16:24"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets it for the whole process
    out = capsys.readouterr().out
    for step in ("encode left", "decode right, no left", "decode right, matched (default)", "without consistency"):
        assert step in out
    assert "pairs/s" in out
    assert "16:24" in out and "g_s ms" in out


def test_compare_weights_reports_both_families_per_pair(capsys):
    """scripts/compare_weights.py (how a candidate head is judged after the paste): the shipped family
    against itself gives equal columns."""
    spec = importlib.util.spec_from_file_location("compare_weights", ROOT / "scripts" / "compare_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import torch

    from dsc_core import registry

    threads = torch.get_num_threads()
    try:
        weights = registry.get("dsc-default").path
        assert mod.main([str(weights), "--pairs", "photostereo:1:128x256", "--right-rates", "0", "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "photostereo_000000" in out and "(+0.000)" in out
