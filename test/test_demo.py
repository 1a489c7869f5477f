"""dsc-demo end to end on a tiny setting (3 frames of 64x192): the table, summary.json and the PNGs.

The demo runs as its own process (``python -m dsc_ros.tools.demo``) in this session's random ROS domain; it
starts the node set through dsc-launch, records the code topics, plays the generated bag and measures.
"""

import json
import sys

import pytest
from PIL import Image

from ros_helpers import Process, node_env, ros_available


def test_demo_tiny(tmp_path):
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "demo"
    p = Process(
        [
            sys.executable,
            "-m",
            "dsc_ros.tools.demo",
            "--out",
            str(out),
            "--frames",
            "3",
            "--size",
            "64x192",
            "--cache",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--offline-check",
            "1",
            "--quiet",
        ],
        tmp_path / "demo.log",
        env=node_env(),
    )
    try:
        rc = p.popen.wait(240)
    finally:
        p.close()
    text = p.log_path.read_text()
    assert rc == 0, text[-4000:]
    for row in (
        "raw kB/s at 10 Hz",
        "coded kB/s at 10 Hz",
        "bpp",
        "PSNR dB",
        "MS-SSIM",
        "latency median s",
        "latency p95 s",
        "frames decoded / sent",
        "decoded pairs/s",
    ):
        assert row in text, row
    assert "2/2 images bit-identical" in text, text[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["pairs_sent"] == s["pairs_decoded"] == 3 and s["size"] == [64, 192]
    for side in ("left", "right"):
        st = s["streams"][side]
        assert st["raw_bytes_per_frame"] > 64 * 192 * 3  # the whole sensor_msgs/Image CDR
        assert 0 < st["code_bytes_per_frame"] < 64 * 192 * 3 / 4 and st["bpp"] > 0
        assert st["coded_kBps_at_camera_rate"] < st["raw_kBps_at_camera_rate"] / 4
        assert st["psnr_db"] > 5 and 0 < st["ms_ssim"] <= 1
        assert 0 < st["latency_median_s"] <= st["latency_p95_s"] < 60
    assert s["pair"]["raw_kBps_at_camera_rate"] == pytest.approx(
        s["streams"]["left"]["raw_kBps_at_camera_rate"] + s["streams"]["right"]["raw_kBps_at_camera_rate"]
    )
    assert s["right_degraded"] == 0
    pngs = sorted(out.glob("pair_*.png"))
    assert len(pngs) == 3 and [str(x) for x in pngs] == s["pngs"]
    assert Image.open(pngs[0]).size == (2 * 192 + 4, 2 * 64 + 4)  # original | decoded, left above right
    assert (out / "codes" / "metadata.yaml").is_file() and (out / "summary.txt").is_file()
    # the generated bag is cached and reused
    assert len(list((tmp_path / "cache").glob("kitti_like_*"))) == 1


@pytest.mark.parametrize(
    "flags, footer",
    [
        (["--left-codec", "jpeg", "--left-quality", "80"], "left codec jpeg, quality 80"),
        (["--left-input", "compressed_image"], "left stream: the camera's JPEG CompressedImage"),
    ],
)
def test_demo_left_stream_modes(tmp_path, flags, footer):
    """A classical left codec, and the camera's own CompressedImage as the left (no left encoder)."""
    reason = ros_available()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "demo"
    p = Process(
        [
            sys.executable,
            "-m",
            "dsc_ros.tools.demo",
            "--out",
            str(out),
            "--frames",
            "2",
            "--size",
            "64x192",
            "--cache",
            str(tmp_path / "cache"),
            "--device",
            "cpu",
            "--offline-check",
            "0",
            "--quiet",
            *flags,
        ],
        tmp_path / "demo.log",
        env=node_env(),
    )
    try:
        rc = p.popen.wait(240)
    finally:
        p.close()
    text = p.log_path.read_text()
    assert rc == 0, text[-4000:]
    assert footer in text, text[-2000:]
    s = json.loads((out / "summary.json").read_text())
    assert s["pairs_sent"] == s["pairs_decoded"] == 2 and s["right_degraded"] == 0
    left = s["streams"]["left"]
    assert 0 < left["code_bytes_per_frame"] < 64 * 192 * 3 / 4 and left["psnr_db"] > 20
    if "compressed_image" in flags:
        assert "[left_encoder" not in (out / "nodes.log").read_text()  # dsc-launch started no left encoder
