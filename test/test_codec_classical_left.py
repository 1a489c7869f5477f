"""A classical left (AVIF, JPEG XL, JPEG) as side information, through the public codec API.

Real bitstreams on a real pair (a crop of Motorcycle); the right code is the same level-2 code whatever the
left camera used, and the decoder derives its side information from the decoded left image.
"""

import numpy as np
import pytest

from dsc_core import container, left_codecs
from dsc_core.errors import BitstreamError, ModelMismatchError
from dsc_core.eval.metrics import psnr


def _codecs():
    return [n for n in left_codecs.CLASSICAL if left_codecs.get(n).availability()[0]]


@pytest.fixture(scope="module")
def right_code(codec, small_pair):
    return codec.encode_right(small_pair[1], rate=2)


@pytest.mark.parametrize("name", _codecs())
def test_classical_left_round_trip_and_side_information(codec, small_pair, right_code, name, one_thread):
    left, right = small_pair
    data = codec.encode_left(left, codec=name, quality=90)
    hdr = container.parse(data)
    assert (hdr.version, hdr.codec, hdr.rate, hdr.family) == (2, name, 90, codec.family_fp)
    state = codec.decode_left(data, return_state=True)
    assert state.image.shape == left.shape and psnr(left, state.image) > 30
    assert np.array_equal(codec.decode_left(data), state.image)
    with_left = psnr(right, codec.decode_right(right_code, left=data))  # bytes work like a level-1 left
    assert with_left == psnr(right, codec.decode_right(right_code, left=state))
    no_left = psnr(right, codec.decode_right(right_code, left=None))
    assert with_left > no_left + 0.5, (
        f"a {name} left at quality 90 must help the right ({with_left:.2f} vs {no_left:.2f})"
    )
    back_l, back_r = codec.decode_pair(data, right_code)
    assert np.array_equal(back_l, state.image) and psnr(right, back_r) == with_left


def test_default_quality_and_mono(codec, small_pair, one_thread):
    grey = np.ascontiguousarray(small_pair[0][:, :, 1])
    data = codec.encode_left(grey, "mono8", codec="jpeg")
    hdr = container.parse(data)
    assert hdr.rate == left_codecs.get("jpeg").default_quality and hdr.strings[0].shape == (1,) + grey.shape
    assert codec.decode_left(data).shape == grey.shape


def test_wrong_arguments_are_refused(codec, small_pair):
    left = small_pair[0]
    with pytest.raises(ValueError, match="quality"):
        codec.encode_left(left, rate=2, codec="avif")
    with pytest.raises(ValueError, match="rate"):
        codec.encode_left(left, quality=50)
    with pytest.raises(ValueError, match="webp"):
        codec.encode_left(left, codec="webp")
    with pytest.raises(ValueError):
        codec.encode_left(left, codec="jpeg", quality=101)


def test_bad_classical_lefts_are_clear_errors(codec, small_pair, right_code, one_thread):
    left = small_pair[0]
    data = codec.encode_left(left, codec="jpeg", quality=80)
    hdr, (payload,) = container.unpack(data)

    def repack(p, **kw):
        h = container.Header(**{**hdr.__dict__, **kw})
        return container.pack(h, [p])

    with pytest.raises(BitstreamError):  # truncated stream, container re-sealed
        codec.decode_left(
            repack(
                payload[: len(payload) // 2],
                strings=(container.StringInfo(hdr.strings[0].shape, 0, len(payload) // 2),),
            )
        )
    with pytest.raises(BitstreamError, match="declares"):  # the stream's own size disagrees with the header
        codec.decode_left(
            repack(
                payload,
                width=hdr.width + 1,
                strings=(container.StringInfo((3, hdr.height, hdr.width + 1), 0, len(payload)),),
            )
        )
    with pytest.raises(BitstreamError):  # a JPEG stream labelled as AVIF
        codec.decode_left(repack(payload, codec="avif"))
    with pytest.raises(ModelMismatchError):  # another family
        codec.decode_left(repack(payload, family=bytes(8)))
    small = type(codec)(codec.name, device="cpu", max_pixels=hdr.height * hdr.width - 1)
    with pytest.raises(BitstreamError, match="budget"):
        small.decode_left(data)
    with pytest.raises(ModelMismatchError):  # a classical left is still not a right code
        codec.decode_right(data)


@pytest.mark.parametrize("left_codec", ["level1", "avif"])
def test_cli_encode_decode_info_with_any_left_codec(tmp_path, small_pair, left_codec, capsys, one_thread):
    from PIL import Image

    from dsc_core.cli import main

    for view, img in zip(("left", "right"), small_pair):
        Image.fromarray(img).save(tmp_path / f"{view}.png")
    args = [
        "encode",
        "--left",
        str(tmp_path / "left.png"),
        "--right",
        str(tmp_path / "right.png"),
        "--out",
        str(tmp_path / "codes"),
        "--device",
        "cpu",
        "--left-codec",
        left_codec,
    ]
    if left_codec != "level1":
        args += ["--left-quality", "70"]
    assert main(args) == 0
    assert (
        main(
            [
                "decode",
                "--left",
                str(tmp_path / "codes" / "left.dsc"),
                "--right",
                str(tmp_path / "codes" / "right.dsc"),
                "--out",
                str(tmp_path / "dec"),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    right = np.asarray(Image.open(tmp_path / "dec" / "right.png"))
    assert right.shape == small_pair[1].shape and psnr(small_pair[1], right) > 17  # a 128x192 crop, 0.1 bpp
    assert main(["info", str(tmp_path / "codes" / "left.dsc")]) == 0
    out = capsys.readouterr().out
    assert ("codec=avif  quality=70" in out) if left_codec == "avif" else ("DSCC v1  role=left" in out)
    with pytest.raises(SystemExit, match="left-quality"):
        main(args[:-2] + ["--left-rate", "1"] if left_codec != "level1" else args + ["--left-quality", "5"])
