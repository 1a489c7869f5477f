"""The codec end to end on real bitstreams: round trips in separate processes, sizes, encodings, isolation."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dsc_core
from dsc_core.errors import DSCError, ImageFormatError, MissingSideInformationError, ModelMismatchError

ROOT = Path(__file__).resolve().parents[1]

ENCODE_SCRIPT = r"""
import sys, json, numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
import dsc_core
from dsc_core import images
out = sys.argv[1]
pair = np.load(out + "/pair.npz")
c = dsc_core.load_codec("dsc-default", device="cpu")
dl, dr = c.encode_left(pair["left"]), c.encode_right(pair["right"])
open(out + "/left.dsc", "wb").write(dl); open(out + "/right.dsc", "wb").write(dr)
# the symbols the encoder coded, for the bit-exact comparison in another process
x = images.to_tensor(images.check_image(pair["left"], "rgb8"), "cpu")
enc = c.level1.compress(x, c.info.default_left_rate)
np.save(out + "/symbols.npy", enc["symbols"].numpy()); np.save(out + "/y_hat.npy", enc["y_hat"].numpy())
"""

DECODE_SCRIPT = r"""
import sys, numpy as np, torch
torch.set_num_threads(int(sys.argv[2]))
import dsc_core
from dsc_core import container
out = sys.argv[1]
c = dsc_core.load_codec("dsc-default", device="cpu")
dl = open(out + "/left.dsc", "rb").read(); dr = open(out + "/right.dsc", "rb").read()
hdr, payloads = container.unpack(dl)
d = c.level1.decompress(payloads, [s.shape for s in hdr.strings], hdr.rate, [s.index_crc for s in hdr.strings])
np.save(out + "/dec_symbols.npy", d["symbols"].numpy()); np.save(out + "/dec_y_hat.npy", d["y_hat"].numpy())
left, right = c.decode_pair(dl, dr)
np.savez(out + "/decoded.npz", left=left, right=right)
"""


def _run(script: str, *args) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", script, *map(str, args)], check=True, env=env, timeout=300)


@pytest.mark.parametrize("enc_threads,dec_threads", [(1, 2), (2, 1)])
def test_latents_are_bit_exact_across_processes_and_thread_counts(
    tmp_path, small_pair, codec, enc_threads, dec_threads
):
    left, right = small_pair
    np.savez(tmp_path / "pair.npz", left=left, right=right)
    _run(ENCODE_SCRIPT, tmp_path, enc_threads)
    _run(DECODE_SCRIPT, tmp_path, dec_threads)
    assert np.array_equal(np.load(tmp_path / "symbols.npy"), np.load(tmp_path / "dec_symbols.npy"))
    assert np.array_equal(np.load(tmp_path / "y_hat.npy"), np.load(tmp_path / "dec_y_hat.npy"))
    # and this process decodes the other process's codes to the same images
    dec = np.load(tmp_path / "decoded.npz")
    here_l, here_r = codec.decode_pair((tmp_path / "left.dsc").read_bytes(), (tmp_path / "right.dsc").read_bytes())
    # The latents above are bit-exact (that is what the entropy decoder needs). The images come from float
    # convolutions, whose summation order depends on the thread count and the CPU's SIMD path: they may
    # differ by one level in a few pixels (seen on AMD EPYC with 1 against 2 threads), never more.
    for here, there in ((here_l, dec["left"]), (here_r, dec["right"])):
        diff = np.abs(here.astype(int) - there)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.01


def test_round_trip_quality_and_rates(codec, small_pair):
    left, right = small_pair
    n = left.shape[0] * left.shape[1]
    sizes = [len(codec.encode_left(left, rate=q)) for q in codec.left_rates]
    assert sizes == sorted(sizes), "higher level-1 rate points must spend more bits"
    dl, dr = codec.encode_left(left), codec.encode_right(right)
    assert len(dr) < len(dl), "the right code must be smaller than the left"
    l_img, r_img = codec.decode_pair(dl, dr)
    assert l_img.shape == left.shape and r_img.shape == right.shape and l_img.dtype == np.uint8
    mse = np.mean((l_img.astype(float) - left) ** 2)
    assert 10 * np.log10(255**2 / mse) > 18
    assert len(dl) * 8 / n < 2.0


def test_decode_right_reuses_a_left_state(codec, small_pair):
    left, right = small_pair
    dl, dr = codec.encode_left(left), codec.encode_right(right)
    state = codec.decode_left(dl, return_state=True)
    a = codec.decode_right(dr, left=state)
    b = codec.decode_right(dr, left=dl)
    assert np.array_equal(a, b)
    img, info = codec.decode_right(dr, left=None, return_info=True)
    assert info.degraded and img.shape == right.shape
    _, info = codec.decode_right(dr, left=state, return_info=True)
    assert not info.degraded


@pytest.mark.parametrize("h,w", [(375, 1242), (1, 1), (17, 4001), (64, 64), (63, 65)])
def test_any_size(codec, h, w):
    rng = np.random.default_rng(h * w)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    img = np.clip(img.astype(np.float32) * 0.2 + 100, 0, 255).astype(np.uint8)  # smooth-ish, quick to code
    dl, dr = codec.encode_left(img), codec.encode_right(img)
    l_img, r_img = codec.decode_pair(dl, dr)
    assert l_img.shape == (h, w, 3) and r_img.shape == (h, w, 3)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "mono8"])
def test_encodings_come_back_as_they_went_in(codec, small_pair, encoding):
    left, right = small_pair
    if encoding == "bgr8":
        left, right = left[:, :, ::-1].copy(), right[:, :, ::-1].copy()
    if encoding == "mono8":
        left, right = left.mean(2).astype(np.uint8), right.mean(2).astype(np.uint8)
    dl, dr = codec.encode_left(left, encoding), codec.encode_right(right, encoding)
    assert dsc_core.container.parse(dl).encoding == encoding
    l_img, r_img = codec.decode_pair(dl, dr)
    assert l_img.shape == left.shape and r_img.shape == right.shape
    mse = np.mean((l_img.astype(float) - left) ** 2)
    assert 10 * np.log10(255**2 / mse) > 18, "channel order must survive the round trip"


@pytest.mark.parametrize(
    "bad,encoding",
    [
        (np.zeros((8, 8, 3), np.float32), "rgb8"),
        (np.zeros((8, 8), np.uint8), "rgb8"),
        (np.zeros((8, 8, 3), np.uint8), "mono8"),
        (np.zeros((8, 8, 3), np.uint8), "yuv422"),
        (np.zeros((0, 8, 3), np.uint8), "rgb8"),
        (np.zeros((8, 8, 4), np.uint8), "rgb8"),
    ],
)
def test_bad_images_are_refused(codec, bad, encoding):
    with pytest.raises(ImageFormatError):
        codec.encode_left(bad, encoding)
    with pytest.raises(ImageFormatError):
        codec.encode_right(bad, encoding)


def test_model_mismatch_is_refused(codec, paper_codec, small_pair, tmp_path):
    left, right = small_pair
    dr_paper = paper_codec.encode_right(right)
    with pytest.raises(ModelMismatchError, match="decodes right codes") as e:
        codec.decode_right(dr_paper)
    assert e.value.reason == "model_mismatch"
    # a left code of the same family pairs with a paper right code
    dl = codec.encode_left(left)
    assert paper_codec.decode_right(dr_paper, left=dl).shape == right.shape
    # another family (other level-1 weights) is refused on both sides
    import torch

    from dsc_core.codec import StereoCodec
    from dsc_core.models import weights_io

    fam = weights_io.read_family(codec.info.path)
    fam["level1"]["state"]["g_a.0.bias"] = fam["level1"]["state"]["g_a.0.bias"] + 1
    torch.save(fam, tmp_path / "other.pt")
    other = StereoCodec("dsc-default", device="cpu", weights_path=tmp_path / "other.pt")
    with pytest.raises(ModelMismatchError, match="family"):
        other.decode_left(dl)
    with pytest.raises(ModelMismatchError):
        other.decode_right(codec.encode_right(right))
    with pytest.raises(ModelMismatchError):
        codec.decode_right(
            codec.encode_right(right), left=other.decode_left(other.encode_left(left), return_state=True)
        )


def test_left_and_right_of_different_sizes_are_refused(codec, small_pair):
    left, right = small_pair
    with pytest.raises(MissingSideInformationError):
        codec.decode_right(codec.encode_right(right), left=codec.encode_left(left[:64]))


def test_paper_head_is_fixed_4_bit(paper_codec, small_pair):
    left, right = small_pair
    dr = paper_codec.encode_right(right)
    hdr, payloads = dsc_core.container.unpack(dr)
    hp, wp = 128, 192
    assert len(payloads[0]) * 8 == 8 * (hp // 32) * (wp // 32) * 4  # 8 channels, 1/32, 4 bits
    assert len(payloads[0]) * 8 / (hp * wp) == 0.03125


RIGHT_ONLY_SCRIPT = r"""
import sys, numpy as np, dsc_core
right = np.load(sys.argv[1])
sys.stdout.buffer.write(dsc_core.load_codec("dsc-default", device="cpu").encode_right(right))
"""


def test_right_encoder_uses_nothing_of_the_left(codec, small_pair, tmp_path):
    """The right code is a function of the right image alone: a fresh process that never saw a left image
    produces the same bytes as this one after coding many left images."""
    left, right = small_pair
    for q in codec.left_rates:
        codec.encode_left(left, rate=q)
    here = codec.encode_right(right)
    np.save(tmp_path / "right.npy", right)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    alone = subprocess.run(
        [sys.executable, "-c", RIGHT_ONLY_SCRIPT, str(tmp_path / "right.npy")],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    ).stdout
    assert alone == here
    import inspect

    from dsc_core.codec import StereoCodec

    assert "left" not in inspect.getsource(StereoCodec.encode_right).split('"""')[2]


def test_check_is_the_one_compatibility_check_and_names_its_reason(codec, paper_codec, small_pair):
    """``StereoCodec.check`` (what decode_* and the decoder node call) raises DSCErrors whose ``reason`` is
    the node's counter key, before any pixel or latent is allocated."""
    from dsc_core import container
    from dsc_core.errors import BitstreamError

    left, right = small_pair
    hl, hr = container.parse(codec.encode_left(left)), container.parse(codec.encode_right(right))
    codec.check(hl, "left")
    codec.check(hr, "right")

    def reason(hdr, side, **kw):
        with pytest.raises(DSCError) as e:
            codec.check(hdr, side, **kw)
        return e.value.reason

    assert reason(hr, "left") == "wrong_role" and reason(hl, "right") == "wrong_role"
    assert reason(hl, "left", max_pixels=hl.height * hl.width - 1) == "too_large"
    assert reason(container.parse(paper_codec.encode_right(right)), "right") == "model_mismatch"
    assert reason(dataclasses.replace(hr, family=b"X" * 8), "right") == "model_mismatch"
    assert reason(dataclasses.replace(hr, head=b"Y" * 8), "right") == "model_mismatch"
    assert reason(dataclasses.replace(hr, rate=99), "right") == "corrupt_code"
    assert reason(dataclasses.replace(hl, width=hl.width + 64), "left") == "corrupt_code"  # shapes vs size
    with pytest.raises(BitstreamError, match="budget"):
        codec.check(hl, "left", max_pixels=100)
    with pytest.raises(ValueError, match="side"):
        codec.check(hl, "middle")


def test_read_only_images_are_taken_without_a_warning():
    # PIL- and ROS-buffer-backed arrays are read-only, and torch warned on the first one of every process.
    # In a fresh process, because torch gives that warning only once per process.
    code = """
import warnings, numpy as np
warnings.simplefilter("error")
from dsc_core import images
rgb = np.random.default_rng(0).integers(0, 256, (21, 37, 3), dtype=np.uint8)
frozen = rgb.copy()
frozen.flags.writeable = False
x = images.to_tensor(frozen, "cpu")
assert x.shape == (1, 3, 64, 64) and np.array_equal(images.to_uint8(x, 21, 37), rgb)
"""
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
