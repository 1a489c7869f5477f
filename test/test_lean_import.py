"""dsc_core imports CompressAI's coding blocks without its package __init__ (dsc_core/_compressai.py).

Why it matters: the full ``import compressai`` (datasets, torch_geometric, torch._dynamo, the zoo) is most of
a node's start-up, and a restarted node is blind while it starts. These run in fresh processes: an import
already done by this pytest process would hide the effect.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import hashlib, json, sys
import numpy as np
import dsc_core
codec = dsc_core.load_codec("dsc-default")
img = np.random.default_rng(0).integers(0, 256, (40, 72, 3), dtype=np.uint8)
left, right = codec.encode_left(img), codec.encode_right(img[:, ::-1].copy())
heavy = sorted({m.split(".")[0] + "." + m.split(".")[1] if m.count(".") else m for m in sys.modules
                if m.startswith(("torch_geometric", "torchvision", "compressai.datasets", "compressai.zoo",
                                 "torch._dynamo", "scipy.stats._"))})
import compressai
out = {"heavy": heavy, "version": compressai.__version__, "coder": compressai.get_entropy_coder(),
       "digest": hashlib.sha256(left + right).hexdigest()}
print(json.dumps(out))
"""


def probe(**env):
    r = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_codec_loads_without_compressai_init_and_codes_the_same_bytes():
    lean = probe(DSC_FULL_COMPRESSAI="0")
    full = probe(DSC_FULL_COMPRESSAI="1")
    assert lean["heavy"] == [], lean["heavy"]
    assert full["heavy"], "the full import should pull in the heavy sub-packages (else this test proves nothing)"
    assert lean["version"] == full["version"] and lean["coder"] == full["coder"] == "ans"
    assert lean["digest"] == full["digest"]


def test_plain_import_compressai_still_works_after_dsc_core():
    code = (
        "import dsc_core.models.level1, compressai; from compressai.zoo import bmshj2018_factorized; "
        "print(compressai.available_entropy_coders(), callable(bmshj2018_factorized))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "['ans'] True" in r.stdout


def test_deferred_scipy_stats_loads_on_first_use_and_update_still_works():
    code = (
        "import sys; from dsc_core.models.level2 import Level2Codec; "
        "assert 'scipy.stats._stats_py' not in sys.modules; "
        "import scipy.stats; q = scipy.stats.norm.ppf(0.975); "
        "assert sys.modules['scipy.stats'] is scipy.stats and 'scipy.stats._stats_py' in sys.modules; "
        "from compressai.entropy_models import GaussianConditional; g = GaussianConditional([0.11, 1.0, 8.0]); "
        "g.update(); print(round(q, 3), int(g._quantized_cdf.shape[0]))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["1.96", "3"]
