"""Training stages of the two-level auto-encoder (Harel & Avidan, ICCP 2022, section 3.3).

* ``level1``: the single-image codec alone, on single views (photographs + synthetic stereo views).
* ``level2``: level 2 + decoder-side fusion (+ the paper-faithful 4-bit head) with level 1 frozen.
* ``joint``:  both together, level 1 with a small learning-rate multiplier (optional fine-tune).

A stage object gives the loop what it needs: parameters, one training step, an aux loss, validation,
sampler state for checkpoints, and ``export`` to a weights file the registry can load.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import torch

from dsc_core.models import base as model_base, weights_io
from dsc_core.models.heads import RightHead, build_head
from dsc_core.models.level1 import Level1Codec
from dsc_core.models.side_info import MatchedSideInformation
from dsc_core.train import losses
from dsc_core.train.classical_lefts import ClassicalLefts
from dsc_core.train.sampling import PhotoCrops, StereoCrops


def _photos(dcfg: dict) -> list[Path]:
    """The training photographs: ``data.photos`` if the config names a folder, else the prepared pool
    (``dsc prepare-data``, under :func:`dsc_core.paths.data_root`). Says so when it has to fall back to
    scikit-image's handful of samples, which no real run should train on."""
    from dsc_core.data import photos

    root = Path(dcfg["photos"]) if dcfg.get("photos") else photos.DEFAULT_DIR
    paths = photos.list_photos(root, include_skimage=False)
    if not paths:
        paths = photos.list_photos(root)
        print(
            f"[train] no prepared photographs in {root}: using scikit-image's {len(paths)} samples "
            f"(run `dsc prepare-data`)"
        )
    return paths


def _split_photos(paths):
    """(train, held-out) photographs for level 1: the pool's own split, stable as the pool grows."""
    from dsc_core.data.photos import split_photos

    return split_photos(paths)


def _split_textures(paths):
    """(train, held-out) texture photographs: the split the synthetic eval set renders its textures from."""
    from dsc_core.data.synthetic import split_textures

    return split_textures(paths)


class Level1Stage:
    def __init__(self, cfg: dict, device: str = "cpu", rank: int = 0):
        self.cfg, self.device = cfg, device
        mcfg = cfg.get("model", {})
        self.model = Level1Codec(**mcfg.get("level1", {})).to(device)
        dcfg = cfg.get("data", {})
        if dcfg.get("val_photos"):  # an explicit held-out folder (the GPU kit carries the split it was given)
            train, val = _photos(dcfg), _photos({"photos": dcfg["val_photos"]})
        else:
            train, val = _split_photos(_photos(dcfg))
        self.batch = int(dcfg.get("batch", 8))
        self.sampler = PhotoCrops(train, crop=dcfg.get("crop", (128, 128)), seed=int(cfg.get("seed", 0)) + rank)
        self.synthetic_share = float(dcfg.get("synthetic_share", 0.0))
        self.stereo = (
            _stereo_sampler(dcfg, seed=int(cfg.get("seed", 0)) + 1000 + rank) if self.synthetic_share > 0 else None
        )
        vs = PhotoCrops(val or train[:2], crop=tuple(cfg.get("val_crop", (256, 256))), seed=12345)
        self.val_images = vs.sample(int(cfg.get("val_images", 8)))

    # --- what the loop needs
    def initialise(self) -> None:
        init = self.cfg.get("init")
        if init:
            weights_io.load_level1_into(self.model, init)

    def trainable_module(self):
        return self.model

    def main_parameters(self):
        return [p for n, p in self.model.named_parameters() if not n.endswith("quantiles")]

    def aux_parameters(self):
        return [p for n, p in self.model.named_parameters() if n.endswith("quantiles")]

    def aux_loss(self):
        return self.model.aux_loss()

    def state_dict(self):
        return self.model.state_dict()

    def load_state_dict(self, sd):
        weights_io.load_state(self.model, sd)  # resizes the CDF-table buffers update() grew

    def sampler_state(self):
        s = {"photos": self.sampler.state()}
        if self.stereo:
            s["stereo"] = self.stereo.state()
        return s

    def sampler_load_state(self, s):
        if "photos" in s:
            self.sampler.load_state(s["photos"])
        if self.stereo and "stereo" in s:
            self.stereo.load_state(s["stereo"])

    def train_mode(self):
        self.model.train()

    def _batch(self) -> torch.Tensor:
        n_syn = int(round(self.batch * self.synthetic_share)) if self.stereo else 0
        parts = [self.sampler.sample(self.batch - n_syn)] if self.batch - n_syn else []
        if n_syn and self.stereo is not None:  # n_syn > 0 only with a stereo source
            left, right = self.stereo.sample((n_syn + 1) // 2)
            parts.append(torch.cat([left, right])[:n_syn])
        return torch.cat(parts).to(self.device)

    def step(self, module) -> dict:
        x = self._batch()
        rates = torch.randint(self.model.num_rates, (x.shape[0],), device=self.device)
        lambdas = torch.tensor(self.model.lambdas, device=self.device)[rates]
        return losses.level1_loss(module(x, rates), x, lambdas)

    @torch.no_grad()
    def validate(self) -> dict:
        self.model.eval()
        x = self.val_images.to(self.device)
        out = {}
        for q in range(self.model.num_rates):
            r = self.model(x, torch.full((x.shape[0],), q, device=self.device))
            m = losses.level1_loss(r, x, torch.full((x.shape[0],), self.model.lambdas[q], device=self.device))
            out[f"q{q}"] = {"bpp": round(float(m["bpp"]), 4), "psnr": round(float(m["psnr"]), 2)}
        # Real bytes at the extreme rates: the training estimate can lie (untrained quantiles).
        self.model.update(force=True)
        for q in (0, self.model.num_rates - 1):
            c = self.model.compress(x[:1], q)
            nbytes = sum(len(s) for s in c["strings"])
            out[f"q{q}"]["real_bpp"] = round(nbytes * 8 / (x.shape[-1] * x.shape[-2]), 4)
        return out

    def export(self, path: Path, meta: dict) -> None:
        """A weights family with this level 1. The heads of the ``init`` family ride along unchanged, so the
        file loads as a complete codec (single-image validation, a later joint fine-tune); they were trained
        on the level 1 of ``init`` and must be fine-tuned before they ship with this one."""
        heads, init = {}, self.cfg.get("init")
        if init and Path(init).exists():
            try:
                fam = weights_io.read_family(init)
            except ValueError:  # init was a training checkpoint: no heads to carry
                fam = {"heads": {}}
            heads = {
                name: weights_io.load_state(build_head(h["kind"], h["config"]), h["state"])
                for name, h in fam["heads"].items()
            }
        weights_io.save_family(
            path, level1=self.model, heads=heads, meta={"level1": meta, "heads_from": str(init) if heads else None}
        )


def _load_head_partial(head, stored: dict) -> None:
    """Initialise ``head`` from a stored head whose shape may differ where a new run changed the design.

    * Rate-point gains: a new rate grid keeps the stored rows of equal lambda and fills new lambdas by
      linear inter/extrapolation of the log-gains in log-lambda (the gains are near-linear in it).
    * Modules whose configuration changed (a new refiner kind) start fresh; everything else loads.
    """
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in stored["state"].items()}
    old_l = list(stored["config"].get("level2", {}).get("lambdas", []))
    new_l = list(getattr(head, "lambdas", ()))
    if old_l and new_l and old_l != new_l:
        import math

        xo = torch.tensor([math.log(v) for v in old_l])
        for key in ("level2.log_gain", "level2.log_inv_gain"):
            if key not in state:
                continue
            rows = state[key]
            out = []
            for lam in new_l:
                x = math.log(lam)
                j = int(torch.searchsorted(xo, torch.tensor(x)).clamp(1, len(old_l) - 1))
                t = (x - float(xo[j - 1])) / float(xo[j] - xo[j - 1])
                out.append(rows[j - 1] + t * (rows[j] - rows[j - 1]))
            state[key] = torch.stack(out)
    own = head.state_dict()
    keep = {
        k: v
        for k, v in state.items()
        if k in own and (own[k].shape == v.shape or k.endswith(weights_io._TABLE_SUFFIXES))
    }
    if stored["config"].get("refiner") != head.config().get("refiner"):
        keep = {k: v for k, v in keep.items() if not k.startswith("refiner.")}
    missing = [k for k in own if k not in keep and not k.endswith(weights_io._TABLE_SUFFIXES)]
    if missing:
        print(f"init: {len(missing)} tensors of head {head.kind!r} start fresh (e.g. {', '.join(sorted(missing)[:3])})")
    weights_io.load_state(head, keep | {k: own[k] for k in missing})


class SceneSource:
    """Renders training pairs ``rng -> (left, right)``: synthetic scenes and, with ``data.photo_stereo_share``
    > 0, pairs made from real photographs (``photo_stereo.py``). Picklable (the generators are rebuilt in
    each process), so the GPU kit can render a whole pool on many cores at once."""

    def __init__(self, dcfg: dict, val: bool = False):
        self.dcfg, self.val = dict(dcfg), val
        self.photo_share = float(dcfg.get("photo_stereo_share", 0.0))
        self._gens: dict | None = None

    def __getstate__(self):
        return {"dcfg": self.dcfg, "val": self.val, "photo_share": self.photo_share, "_gens": None}

    def _generators(self) -> dict:
        if self._gens is None:
            from dsc_core.data import photo_stereo, synthetic

            size = tuple(self.dcfg.get("scene_size", (256, 512)))
            paths = _photos(self.dcfg)
            self._gens = {}
            if self.photo_share < 1:
                textures = _split_textures(paths)[1 if self.val else 0]
                self._gens["synthetic"] = synthetic.SyntheticStereo(
                    textures=textures, size=size, mode=self.dcfg.get("scene_mode", "mixed")
                )
            if self.photo_share > 0:
                self._gens["photo"] = photo_stereo.PhotoStereo(_split_photos(paths)[1 if self.val else 0], size=size)
        return self._gens

    def __call__(self, rng: np.random.Generator):
        gens = self._generators()
        # Draw the kind only when both exist, so a synthetic-only run keeps its old random stream.
        kind = next(iter(gens)) if len(gens) == 1 else ("photo" if rng.random() < self.photo_share else "synthetic")
        return gens[kind].render(rng)[:2]


def _stereo_sampler(dcfg: dict, seed: int, val: bool = False) -> StereoCrops:
    pool = int(dcfg.get("val_pool", 4)) if val else int(dcfg.get("pool", 24))
    return StereoCrops(
        SceneSource(dcfg, val),
        crop=dcfg.get("stereo_crop", (128, 256)),
        pool=pool,
        refresh=int(dcfg.get("refresh", 4)),
        seed=seed,
    )


class Level2Stage:
    """Level 2 + fusion of one or more right heads, on stereo crops, with level 1 frozen (paper stage 2).

    Each step draws a left rate (level 1) and a right rate (per head) per sample, so the fusion learns to
    use side information of any left quality with any right rate.
    """

    def __init__(self, cfg: dict, device: str = "cpu", rank: int = 0):
        self.cfg, self.device = cfg, device
        mcfg = cfg.get("model", {})
        self.level1 = Level1Codec(**mcfg.get("level1", {})).to(device)
        self.heads = torch.nn.ModuleDict(
            {
                name: build_head(h.get("kind", name), h.get("config"))
                for name, h in mcfg.get("heads", {"dsc": {}}).items()
            }
        ).to(device)
        dcfg = cfg.get("data", {})
        self.batch = int(dcfg.get("batch", 8))
        self.stereo = _stereo_sampler(dcfg, seed=int(cfg.get("seed", 0)) + rank)
        self.degraded_weight = float(cfg.get("loss", {}).get("degraded_weight", 0.25))
        self.latent_weight = float(cfg.get("loss", {}).get("latent_weight", 0.05))
        self.paper_lambda = float(cfg.get("loss", {}).get("paper_lambda", 0.0025))
        # `loss: {distortion: log}`: every crop weighs the same in dB (losses.stage2_loss); refiner-only runs
        self.distortion = str(cfg.get("loss", {}).get("distortion", "mse"))
        if self.distortion != "mse" and cfg.get("train_only") != "refiner":
            raise ValueError("loss.distortion: log is for `train_only: refiner` runs (the rate has no gradient there)")
        # a share of the lefts comes from AVIF / JPEG XL / JPEG, as a classical left camera sends them
        self.classical = ClassicalLefts(
            float(dcfg.get("classical_left_share", 0.0)), seed=int(cfg.get("seed", 0)) + 99 + rank
        )
        val = _stereo_sampler(dcfg, seed=4242, val=True)
        self.val_left, self.val_right = val.sample(int(cfg.get("val_images", 8)))
        # `refiner_guide: matched`: train the refiner on the decoder's own guide (the matched side
        # information's full-range match) rather than the fusion's estimate (models/heads.py).
        self.guide = MatchedSideInformation() if cfg.get("refiner_guide") == "matched" else None
        # `train_only: refiner`: only parameters under that name train; the rest of each head stays frozen
        # (a refiner fine-tune keeps level 2, so the right codes of the shipped weights stay decodable).
        # `refiner_loss: pasted` (with the matched guide): the loss sees the right after the paste, as decoded
        self.paste_in_loss = cfg.get("refiner_loss") == "pasted"
        self.train_only = cfg.get("train_only")
        if self.train_only:
            for head in self.heads.values():
                for n, p in head.named_parameters():
                    p.requires_grad_(n.startswith(self.train_only + "."))
        self.carried_heads: dict = {}
        self.init_meta: dict = {}  # provenance of the family this run started from

    def initialise(self) -> None:
        init = self.cfg.get("init")
        if not init:
            raise ValueError("stage level2 needs `init:` (a level-1 weights file or checkpoint)")
        self._load_init(init)

    def _load_init(self, init) -> None:
        """Level 1 from ``init``; and the heads too when ``init`` is a weights family that has them (so a new
        run can continue from the shipped weights)."""
        weights_io.load_level1_into(self.level1, init)
        obj = torch.load(init, map_location="cpu", weights_only=False)
        if isinstance(obj, dict) and obj.get("format") == weights_io.FORMAT:
            self.init_meta = {"file": str(init), "meta": obj.get("meta", {})}
            for name, head in self.heads.items():
                if name in obj["heads"]:
                    _load_head_partial(head, obj["heads"][name])
            # Heads of the family this run does not train ship on unchanged (e.g. the paper head).
            if self.cfg.get("carry_heads", True):
                from dsc_core.models.heads import build_head

                for name, h in obj["heads"].items():
                    if name not in self.heads:
                        self.carried_heads[name] = weights_io.load_state(build_head(h["kind"], h["config"]), h["state"])

    def trainable_module(self):
        return self.heads

    def main_parameters(self):
        return [p for n, p in self.heads.named_parameters() if not n.endswith("quantiles") and p.requires_grad]

    def aux_parameters(self):
        return [p for n, p in self.heads.named_parameters() if n.endswith("quantiles") and p.requires_grad]

    def aux_loss(self):
        return model_base.aux_loss(self.heads)  # every head's entropy bottlenecks; zero without any

    def state_dict(self):
        return {"level1." + k: v for k, v in self.level1.state_dict().items()} | {
            "heads." + k: v for k, v in self.heads.state_dict().items()
        }

    def load_state_dict(self, sd):
        weights_io.load_state(self.level1, {k[7:]: v for k, v in sd.items() if k.startswith("level1.")})
        weights_io.load_state(self.heads, {k[6:]: v for k, v in sd.items() if k.startswith("heads.")})

    def sampler_state(self):
        return {"stereo": self.stereo.state(), "classical": self.classical.state()}

    def sampler_load_state(self, s):
        if "stereo" in s:
            self.stereo.load_state(s["stereo"])
        if "classical" in s:
            self.classical.load_state(s["classical"])

    def train_mode(self):
        self.level1.eval()
        self.heads.train()

    @torch.no_grad()
    def _side(self, x_l, x_r):
        """Frozen level 1: decoded left (latent + image) at random left rates, and the right latent."""
        rates_l = torch.randint(self.level1.num_rates, (x_l.shape[0],), device=self.device)
        left = self.level1(x_l, rates_l)
        y_l, x_l_hat = left["y_hat"], left["x_hat"].clamp(0, 1)
        if self.classical.active:
            y_l, x_l_hat = self.classical.apply(x_l, y_l, x_l_hat, self.level1.analysis)
        return y_l, x_l_hat, self.level1.analysis(x_r)

    def _head_loss(self, head, module, x_r, y_r, y_l, x_l_hat, rates=None):
        if rates is None:
            rates = torch.randint(head.num_rates, (x_r.shape[0],), device=self.device)
        guide = self.guide if getattr(head, "refiner", None) is not None else None
        out = module(self.level1, y_r, y_l, x_l_hat, rates, side_info=guide, paste=self.paste_in_loss)
        lam = (
            torch.tensor(head.lambdas, device=self.device)[rates]
            if head.kind != "paper"
            else torch.full((x_r.shape[0],), self.paper_lambda, device=self.device)
        )
        return losses.stage2_loss(out, x_r, y_r, lam, self.degraded_weight, self.latent_weight, self.distortion)

    def step(self, module) -> dict:
        x_l, x_r = (t.to(self.device) for t in self.stereo.sample(self.batch))
        y_l, x_l_hat, y_r = self._side(x_l, x_r)
        heads = module.module if hasattr(module, "module") else module
        total, report = 0.0, {}
        for name, head in heads.items():
            r = self._head_loss(head, heads[name], x_r, y_r, y_l, x_l_hat)
            total = total + r["loss"]
            report.update({f"{name}_{k}": v for k, v in r.items() if k != "loss"})
        report["loss"] = total
        report["psnr"] = report.get("dsc_psnr", next(v for k, v in report.items() if k.endswith("_psnr")))
        report["bpp"] = report.get("dsc_bpp", torch.zeros(()))
        return report

    @torch.no_grad()
    def validate(self) -> dict:
        self.level1.eval()
        self.heads.eval()
        x_l, x_r = self.val_left.to(self.device), self.val_right.to(self.device)
        rl = torch.full((x_l.shape[0],), 2, device=self.device)
        left = self.level1(x_l, rl)
        y_r = self.level1.analysis(x_r)
        out = {}
        for name, head in self.heads.items():
            for q in range(cast(RightHead, head).num_rates):  # a ModuleDict's values are typed nn.Module
                rates = torch.full((x_r.shape[0],), q, device=self.device)
                m = self._head_loss(head, head, x_r, y_r, left["y_hat"], left["x_hat"].clamp(0, 1), rates)
                out[f"{name}_r{q}"] = {
                    "bpp": round(float(m["bpp"]), 4),
                    "psnr": round(float(m["psnr"]), 2),
                    "psnr_degraded": round(float(m["psnr_degraded"]), 2),
                }
        return out

    def export(self, path: Path, meta: dict) -> None:
        weights_io.save_family(
            path,
            level1=self.level1,
            heads=self.carried_heads | dict(self.heads.items()),
            meta={"level2": meta, "init": self.init_meta},
        )


class JointStage(Level2Stage):
    """Stage 3 (optional fine-tune), also usable from a partly trained level 1: every part learns at once.

    Loss = level-1 RD loss on photo crops and on the stereo views (all rates) + each head's stage-2 loss.
    The heads see the side information and the right latent *detached*, so level 2's loss reaches level 1
    only through the shared synthesis ``g_s`` (which must render fused latents too), never through the
    cameras' analysis transform.
    """

    def __init__(self, cfg: dict, device: str = "cpu", rank: int = 0):
        super().__init__(cfg, device, rank)
        dcfg = cfg.get("data", {})
        photos = _split_photos(_photos(dcfg))[0]
        self.photo_batch = int(dcfg.get("photo_batch", 4))
        self.photos = PhotoCrops(photos, crop=dcfg.get("crop", (128, 128)), seed=int(cfg.get("seed", 0)) + 77 + rank)
        self.level1_lr_scale = float(cfg.get("optim", {}).get("level1_lr_scale", 1.0))

    def initialise(self) -> None:
        if self.cfg.get("init"):
            self._load_init(self.cfg["init"])

    def trainable_module(self):
        return torch.nn.ModuleDict({"level1": self.level1, "heads": self.heads})

    def main_parameters(self):
        return [p for n, p in self.trainable_module().named_parameters() if not n.endswith("quantiles")]

    def aux_parameters(self):
        return [p for n, p in self.trainable_module().named_parameters() if n.endswith("quantiles")]

    def aux_loss(self):
        return self.level1.aux_loss() + super().aux_loss()

    def sampler_state(self):
        return {"stereo": self.stereo.state(), "photos": self.photos.state()}

    def sampler_load_state(self, s):
        super().sampler_load_state(s)
        if "photos" in s:
            self.photos.load_state(s["photos"])

    def train_mode(self):
        self.level1.train()
        self.heads.train()

    def step(self, module) -> dict:
        x_l, x_r = (t.to(self.device) for t in self.stereo.sample(self.batch))
        x_p = self.photos.sample(self.photo_batch).to(self.device)
        # level 1 on photos and on both stereo views (the two cameras' own codes)
        report, total = {}, 0.0
        for tag, x in (("photo", x_p), ("stereo", torch.cat([x_l, x_r]))):
            rates = torch.randint(self.level1.num_rates, (x.shape[0],), device=self.device)
            lam = torch.tensor(self.level1.lambdas, device=self.device)[rates]
            out = self.level1(x, rates)
            r = losses.level1_loss(out, x, lam)
            total = total + r["loss"]
            report[f"l1{tag}_bpp"], report[f"l1{tag}_psnr"] = r["bpp"], r["psnr"]
            if tag == "stereo":
                n = x_l.shape[0]
                y_l, x_l_hat = out["y_hat"][:n].detach(), out["x_hat"][:n].detach().clamp(0, 1)
                y_r = out["y"][n:].detach()
        for name, head in self.heads.items():
            r = self._head_loss(head, head, x_r, y_r, y_l, x_l_hat)
            total = total + r["loss"]
            report.update({f"{name}_{k}": v for k, v in r.items() if k != "loss"})
        report["loss"] = total
        report["psnr"] = report.get("dsc_psnr", report["l1stereo_psnr"])
        report["bpp"] = report.get("dsc_bpp", report["l1stereo_bpp"])
        return report

    @torch.no_grad()
    def validate(self) -> dict:
        out = super().validate()
        x = self.val_right.to(self.device)
        for q in (0, 2, self.level1.num_rates - 1):
            r = self.level1(x, torch.full((x.shape[0],), q, device=self.device))
            m = losses.level1_loss(r, x, torch.full((x.shape[0],), self.level1.lambdas[q], device=self.device))
            out[f"level1_q{q}"] = {"bpp": round(float(m["bpp"]), 4), "psnr": round(float(m["psnr"]), 2)}
        self.level1.update(force=True)
        c = self.level1.compress(x[:1], 2)
        out["level1_q2"]["real_bpp"] = round(sum(len(s) for s in c["strings"]) * 8 / (x.shape[-1] * x.shape[-2]), 4)
        return out

    def export(self, path: Path, meta: dict) -> None:
        weights_io.save_family(
            path,
            level1=self.level1,
            heads=self.carried_heads | dict(self.heads.items()),
            meta={"joint": meta, **self.cfg.get("history", {})},
        )


_STAGES = {"level1": Level1Stage, "level2": Level2Stage, "joint": JointStage}


def register(name: str):
    def deco(cls):
        _STAGES[name] = cls
        return cls

    return deco


def get(name: str):
    if name not in _STAGES:
        raise ValueError(f"unknown training stage {name!r}; known: {sorted(_STAGES)}")
    return _STAGES[name]
