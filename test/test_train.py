"""Training: a few real steps reduce the loss, resuming continues the same run, DDP (gloo, 2 CPU ranks) works.

Tiny configs (64x64 crops, batch 2, a few photos) keep this in seconds; the code path is the real one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dsc_core.data.photos import list_photos
from dsc_core.train import losses
from dsc_core.train.loop import train
from dsc_core.train.stages import Level1Stage

ROOT = Path(__file__).resolve().parents[1]


def _tiny_level1(tmp_path, steps=30, lr=2e-3) -> dict:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    from PIL import Image

    for p in list_photos(include_skimage=True)[:6]:
        Image.open(p).convert("RGB").resize((160, 120)).save(photos / (Path(p).stem + ".png"))
    return {
        "name": "tiny",
        "stage": "level1",
        "seed": 3,
        "model": {"level1": {"N": 16, "M": 24, "lambdas": [0.004, 0.02]}},
        "data": {"photos": str(photos), "crop": [64, 64], "batch": 2},
        "optim": {"lr": lr, "lr_min": lr, "warmup": 1, "steps": steps},
        "checkpoint_every": 5,
        "val_every": 1000,
        "val_images": 2,
        "val_crop": [64, 64],
    }


def _fixed_batch_loss(stage: Level1Stage, x: torch.Tensor) -> float:
    stage.model.eval()
    with torch.no_grad():
        rates = torch.zeros(x.shape[0], dtype=torch.long)
        out = stage.model(x, rates)
        return float(losses.level1_loss(out, x, torch.full((x.shape[0],), 0.004))["loss"])


def test_a_few_steps_reduce_the_loss(tmp_path):
    cfg = _tiny_level1(tmp_path, steps=40)
    torch.manual_seed(0)
    before_stage = Level1Stage(cfg)
    x = before_stage.val_images[:2, :, :64, :64]
    before = _fixed_batch_loss(before_stage, x)
    train(cfg, run_dir=tmp_path / "run", progress=False, threads=1)
    after_stage = Level1Stage(cfg)
    after_stage.load_state_dict(torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"])
    after = _fixed_batch_loss(after_stage, x)
    assert after < 0.7 * before, (before, after)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("val" in rec for rec in log) and log[-1]["step"] == 40
    assert (tmp_path / "run" / "final.pt").exists()


def test_resuming_continues_the_same_run(tmp_path):
    cfg = _tiny_level1(tmp_path, steps=12)
    train(cfg, run_dir=tmp_path / "straight", progress=False, threads=1)
    train(cfg, run_dir=tmp_path / "resumed", steps=6, progress=False, threads=1)  # stops at 6 (checkpoint)
    ck = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)
    assert ck["step"] == 6
    train(cfg, run_dir=tmp_path / "resumed", steps=12, progress=False, threads=1)  # resumes 6 -> 12
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=False)["model"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k


def test_final_weights_load_into_the_codec(tmp_path):
    cfg = _tiny_level1(tmp_path, steps=3)
    train(cfg, run_dir=tmp_path / "run", progress=False, threads=1)
    from dsc_core.models import weights_io
    from dsc_core.models.level1 import Level1Codec

    fam = weights_io.read_family(tmp_path / "run" / "final.pt")
    m = weights_io.load_state(Level1Codec(**fam["level1"]["config"]), fam["level1"]["state"]).eval()
    x = torch.rand(1, 3, 64, 64)
    c = m.compress(x, 1)
    d = m.decompress(c["strings"], c["shapes"], 1, c["index_crcs"])
    assert torch.equal(c["symbols"], d["symbols"])


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_ddp_two_cpu_ranks_on_gloo(tmp_path):
    """torchrun --nproc-per-node 2 on the gloo backend: ranks stay in sync and the loss goes down, like a
    single-process run of the same config."""
    cfg = _tiny_level1(tmp_path, steps=16)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc-per-node",
        "2",
        "--master-port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "dsc_core.cli",
        "train",
        str(tmp_path / "cfg.yaml"),
        "--run-dir",
        str(tmp_path / "ddp"),
        "--no-progress",
        "--threads",
        "1",
    ]
    subprocess.run(cmd, check=True, env=env, timeout=300, cwd=tmp_path)
    log = [json.loads(line) for line in (tmp_path / "ddp" / "log.jsonl").read_text().splitlines() if "loss" in line]
    ck = torch.load(tmp_path / "ddp" / "last.pt", weights_only=False)
    assert ck["step"] == 16
    stage = Level1Stage(cfg)
    x = stage.val_images[:2, :, :64, :64]
    before = _fixed_batch_loss(stage, x)
    stage.load_state_dict(ck["model"])
    assert _fixed_batch_loss(stage, x) < before
    assert log and log[-1]["step"] == 16


def test_a_portable_checkpoint_is_smaller_and_resumes(tmp_path):
    from dsc_core.train import portable

    cfg = _tiny_level1(tmp_path, steps=6)
    train(cfg, run_dir=tmp_path / "run", progress=False, threads=1)
    last = tmp_path / "run" / "last.pt"
    portable.save_portable(last, tmp_path / "p.pt.gz")
    assert (tmp_path / "p.pt.gz").stat().st_size < 0.5 * last.stat().st_size
    portable.restore(tmp_path / "p.pt.gz", tmp_path / "moved" / "last.pt")
    train(cfg, run_dir=tmp_path / "moved", steps=9, progress=False, threads=1)
    ck = torch.load(tmp_path / "moved" / "last.pt", weights_only=False)
    assert ck["step"] == 9 and ck["model"]["g_a.0.weight"].dtype == torch.float32


def _tiny_level2(tmp_path, family) -> dict:
    """A stage-2 config over a tiny family file: a 4-rate dsc head with a matching refiner."""
    cfg = _tiny_level1(tmp_path)
    from PIL import Image

    photos = tmp_path / "photos12"  # every 12th photo is held out for validation scenes
    photos.mkdir()
    for i, p in enumerate((list_photos(include_skimage=True) * 12)[:12]):
        Image.open(p).convert("RGB").resize((160, 120)).save(photos / f"{i:02d}.png")
    cfg["data"]["photos"] = str(photos)
    cfg.update(
        {
            "stage": "level2",
            "init": str(family),
            "model": {
                "level1": {"N": 16, "M": 24, "lambdas": [0.004, 0.02]},
                "heads": {
                    "dsc": {
                        "kind": "dsc",
                        "config": {
                            "level2": {"M": 24, "N": 16, "C": 8, "lambdas": [0.0005, 0.001, 0.002, 0.004]},
                            "fusion": {"M": 24, "key_channels": 8, "hidden": 16},
                            "refiner": {"kind": "match", "features": 8, "hidden": 8, "radius": 2},
                        },
                    }
                },
            },
            "data": {**cfg["data"], "stereo_crop": [64, 128], "scene_size": [96, 160], "pool": 2, "val_pool": 1},
        }
    )
    return cfg


def test_new_design_continues_from_a_family_file(tmp_path):
    """A stage-2 run that changes the rate grid and the refiner starts from a shipped family: equal-lambda
    gains carry over, new lambdas are extrapolated in log-lambda, the new refiner starts fresh, the rest
    loads, and the export keeps the heads the run did not train (the paper head)."""
    import math

    from dsc_core.models import weights_io
    from dsc_core.models.fusion import MatchingRefiner, PixelRefiner
    from dsc_core.models.heads import build_head
    from dsc_core.models.level1 import Level1Codec
    from dsc_core.train.stages import Level2Stage

    torch.manual_seed(0)
    level1 = Level1Codec(N=16, M=24, lambdas=[0.004, 0.02])
    old = build_head(
        "dsc",
        {
            "level2": {"M": 24, "N": 16, "C": 8, "lambdas": [0.001, 0.002, 0.004]},
            "fusion": {"M": 24, "key_channels": 8, "hidden": 16},
        },
    )
    with torch.no_grad():
        old.level2.log_gain.copy_(torch.tensor([[0.0] * 8, [1.0] * 8, [2.0] * 8]))
    paper = build_head("paper", {"level2": {"M": 24, "C": 4}, "fusion": {"M": 24}})
    family = tmp_path / "family.pt"
    weights_io.save_family(family, level1=level1, heads={"dsc": old, "paper": paper})

    cfg = _tiny_level2(tmp_path, family)
    stage = Level2Stage(cfg)
    stage.initialise()
    head = stage.heads["dsc"]
    assert isinstance(head.refiner, MatchingRefiner) and isinstance(old.refiner, PixelRefiner)
    g = head.level2.log_gain.detach()
    # stored rows round to float16; 0.0005 is one halving below 0.001: log-linear extrapolation gives -1
    torch.testing.assert_close(g[1:], torch.tensor([[0.0] * 8, [1.0] * 8, [2.0] * 8]), atol=1e-3, rtol=0)
    torch.testing.assert_close(g[0], torch.full((8,), -1.0), atol=1e-3, rtol=0)
    assert math.isclose(float(head.fusion.q.weight.flatten()[0]), float(old.fusion.q.weight.half().flatten()[0]))
    out = tmp_path / "new.pt"
    stage.export(out, meta={"steps": 0})
    fam = weights_io.read_family(out)
    assert set(fam["heads"]) == {"dsc", "paper"} and fam["heads"]["dsc"]["config"]["refiner"]["kind"] == "match"
    assert weights_io.fingerprint(fam["heads"]["paper"]["state"]) == weights_io.fingerprint(
        weights_io.read_family(family)["heads"]["paper"]["state"]
    )
    # and a step trains through the new refiner
    r = stage.step(stage.trainable_module())
    r["loss"].backward()
    assert head.refiner.feat[0].weight.grad is not None and head.refiner.feat[0].weight.grad.abs().sum() > 0


def test_a_refiner_fine_tune_trains_only_the_refiner_on_the_decoders_guide(tmp_path, monkeypatch):
    """``train_only: refiner`` + ``refiner_guide: matched`` (config/train_refiner_matched.yaml): the optimiser
    sees the refiner's parameters only, a step's gradients reach nothing else, and the refiner is guided by
    the matched side information's match, as at the decoder; with ``refiner_loss: pasted`` the loss sees the
    right after the paste, and the gradients still reach the refiner through it."""
    from dsc_core.models import weights_io
    from dsc_core.models.heads import build_head
    from dsc_core.models.level1 import Level1Codec
    from dsc_core.models.side_info import MatchedSideInformation
    from dsc_core.train.stages import Level2Stage

    torch.manual_seed(0)
    family = tmp_path / "family.pt"
    dsc = build_head(
        "dsc",
        {
            "level2": {"M": 24, "N": 16, "C": 8, "lambdas": [0.0005, 0.001, 0.002, 0.004]},
            "fusion": {"M": 24, "key_channels": 8, "hidden": 16},
            "refiner": {"kind": "match", "features": 8, "hidden": 8, "radius": 2},
        },
    )
    weights_io.save_family(family, level1=Level1Codec(N=16, M=24, lambdas=[0.004, 0.02]), heads={"dsc": dsc})
    options = {"train_only": "refiner", "refiner_guide": "matched", "refiner_loss": "pasted"}
    cfg = _tiny_level2(tmp_path, family) | options
    stage = Level2Stage(cfg)
    stage.initialise()
    head = stage.heads["dsc"]
    refiner_ids = {id(p) for p in head.refiner.parameters()}
    assert {id(p) for p in stage.main_parameters()} == refiner_ids and stage.aux_parameters() == []
    calls = []
    real_match = MatchedSideInformation.match
    monkeypatch.setattr(MatchedSideInformation, "match", lambda self, r, l: calls.append(1) or real_match(self, r, l))
    r = stage.step(stage.trainable_module())
    r["loss"].backward()
    assert len(calls) == cfg["data"]["batch"]  # one match per pair of the batch
    assert all(p.grad is not None for p in head.refiner.parameters())
    assert all(p.grad is None for n, p in head.named_parameters() if not n.startswith("refiner."))


def test_the_log_distortion_weighs_every_crop_the_same_in_db():
    """``loss: {distortion: log}`` (config/train_refiner_pasted_db.yaml): the fused term is 10 log10(MSE), so
    halving the error of an easy crop counts as much as halving it on a hard one; with MSE the hard crop's
    term moves ~100x more. Anything else than mse/log is an error."""
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    y = torch.zeros(2, 4, 1, 1)
    lam = torch.full((2,), 0.001)

    def loss(noise, distortion):
        out = {"x_hat": x + noise, "x_hat_degraded": x, "y_hat": y, "likelihoods": {}}
        return float(losses.stage2_loss(out, x, y, lam, 0.25, 0.05, distortion)["loss"])

    def noise(easy, hard):  # per-sample error: sample 0 is the easy crop, sample 1 the hard one
        return torch.ones_like(x) * torch.tensor([easy, hard])[:, None, None, None]

    base = noise(0.01, 0.1)
    for d in ("log", "mse"):
        gain_easy = loss(base, d) - loss(noise(0.005, 0.1), d)
        gain_hard = loss(base, d) - loss(noise(0.01, 0.05), d)
        if d == "log":
            assert gain_easy == pytest.approx(gain_hard, rel=1e-4) and gain_easy > 0
        else:
            assert gain_hard > 50 * gain_easy > 0
    with pytest.raises(ValueError, match="mse"):
        loss(base, "psnr")


def test_the_log_distortion_is_refused_where_the_rate_trains(tmp_path):
    from dsc_core.models import weights_io
    from dsc_core.models.heads import build_head
    from dsc_core.models.level1 import Level1Codec
    from dsc_core.train.stages import Level2Stage

    family = tmp_path / "family.pt"
    head = build_head("dsc", {"level2": {"M": 24, "N": 16, "C": 8, "lambdas": [0.001, 0.002]}})
    weights_io.save_family(family, level1=Level1Codec(N=16, M=24, lambdas=[0.004, 0.02]), heads={"dsc": head})
    cfg = _tiny_level2(tmp_path, family)
    cfg["loss"] = {"distortion": "log"}
    with pytest.raises(ValueError, match="train_only: refiner"):
        Level2Stage(cfg)
