"""dsc-kitti2bag and dsc-synth-bag: KITTI-shaped folders / synthetic scenes -> bags readable with AnyReader.

No ROS runtime needed: the bags are written and read with rosbags alone (that is the point of the tools).
Fixtures are tiny generated KITTI folders (raw drive, stereo 2015, stereo 2012) with real-format calib files.
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dsc_ros.tools.bags import kitti_to_bag, synth_bag
from dsc_ros.wire import encoding_to_rgb, image_from_msg, kitti_topics

H, W = 40, 124

RAW_CALIB = """calib_time: 09-Jan-2012 13:57:47
corner_dist: 9.950000e-02
S_rect_02: 1.242000e+03 3.750000e+02
K_02: 9.597910e+02 0.000000e+00 6.960217e+02 0.000000e+00 9.569251e+02 2.241806e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_02: -3.691481e-01 1.968681e-01 1.353473e-03 5.677587e-04 -6.770705e-02
R_rect_02: 9.998817e-01 1.511453e-02 -2.841595e-03 -1.511724e-02 9.998853e-01 -9.338510e-04 2.827154e-03 9.766976e-04 9.999955e-01
P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03
S_rect_03: 1.242000e+03 3.750000e+02
K_03: 9.037596e+02 0.000000e+00 6.957519e+02 0.000000e+00 9.019653e+02 2.242509e+02 0.000000e+00 0.000000e+00 1.000000e+00
D_03: -3.639558e-01 1.788651e-01 6.029694e-04 -3.922424e-04 -5.382460e-02
R_rect_03: 9.998321e-01 -7.193136e-03 1.685599e-02 7.232804e-03 9.999712e-01 -2.293585e-03 -1.683901e-02 2.415116e-03 9.998553e-01
P_rect_03: 7.215377e+02 0.000000e+00 6.095593e+02 -3.395242e+02 0.000000e+00 7.215377e+02 1.728540e+02 2.199936e+00 0.000000e+00 0.000000e+00 1.000000e+00 2.729905e-03
"""

STEREO_CALIB = """P0: 7.070912e+02 0.000000e+00 6.018873e+02 0.000000e+00 0.000000e+00 7.070912e+02 1.831104e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P1: 7.070912e+02 0.000000e+00 6.018873e+02 -3.798145e+02 0.000000e+00 7.070912e+02 1.831104e+02 0.000000e+00 0.000000e+00 0.000000e+00 1.000000e+00 0.000000e+00
P2: 7.070912e+02 0.000000e+00 6.018873e+02 4.688783e+01 0.000000e+00 7.070912e+02 1.831104e+02 1.178601e-01 0.000000e+00 0.000000e+00 1.000000e+00 6.203223e-03
P3: 7.070912e+02 0.000000e+00 6.018873e+02 -3.334597e+02 0.000000e+00 7.070912e+02 1.831104e+02 1.930130e+00 0.000000e+00 0.000000e+00 1.000000e+00 3.318498e-03
"""

STAMPS = ["2011-09-26 13:02:25.964389445", "2011-09-26 13:02:26.074898441", "2011-09-26 13:02:26.185275879"]
RIGHT_STAMPS = ["2011-09-26 13:02:25.964440305", "2011-09-26 13:02:26.074950081", "2011-09-26 13:02:26.185327197"]


def _img(seed, shape=(H, W, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _save(path: Path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def raw_drive(tmp_path):
    date = tmp_path / "2011_09_26"
    drive = date / "2011_09_26_drive_0001_sync"
    imgs = {}
    for i in range(3):
        for cam in ("02", "03"):
            imgs[(cam, i)] = _img(10 * i + int(cam))
            _save(drive / f"image_{cam}" / "data" / f"{i:010d}.png", imgs[(cam, i)])
    (drive / "image_02" / "timestamps.txt").write_text("\n".join(STAMPS) + "\n")
    (drive / "image_03" / "timestamps.txt").write_text("\n".join(RIGHT_STAMPS) + "\n")
    (date / "calib_cam_to_cam.txt").write_text(RAW_CALIB)  # KITTI's zip puts it in the date folder
    return drive, imgs


def _read(bag):
    from rosbags.highlevel import AnyReader

    out = {}
    with AnyReader([Path(bag)]) as r:
        topics = {t: (i.msgtype, i.msgcount) for t, i in r.topics.items()}
        for c, ts, raw in r.messages():
            out.setdefault(c.topic, []).append((ts, r.deserialize(raw, c.msgtype)))
    return topics, out


def test_raw_drive_to_mcap(raw_drive, tmp_path):
    drive, imgs = raw_drive
    out = tmp_path / "raw_bag"
    rep = kitti_to_bag.convert(drive, out, progress=False)
    assert rep["layout"] == "raw" and rep["frames"] == 3 and rep["stamps"] == "timestamps.txt"
    assert (out / "metadata.yaml").is_file() and list(out.glob("*.mcap"))
    topics, msgs = _read(out)
    t = kitti_topics("color")
    assert topics == {
        t["left"]: ("sensor_msgs/msg/Image", 3),
        t["right"]: ("sensor_msgs/msg/Image", 3),
        t["left_info"]: ("sensor_msgs/msg/CameraInfo", 3),
        t["right_info"]: ("sensor_msgs/msg/CameraInfo", 3),
    }
    assert kitti_to_bag.parse_timestamps(drive / "image_02" / "timestamps.txt")[0] == 1317042145964389445
    for side, cam, frame in (("left", "02", "camera_color_left"), ("right", "03", "camera_color_right")):
        want = kitti_to_bag.parse_timestamps(drive / f"image_{cam}" / "timestamps.txt")  # each camera its own
        for i, (ts, m) in enumerate(msgs[t[side]]):
            assert ts == want[i]  # bag receive time = camera stamp, as kitti2bag writes it
            assert m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == want[i]
            assert m.header.frame_id == frame and m.encoding == "bgr8" and m.step == W * 3
            np.testing.assert_array_equal(encoding_to_rgb(image_from_msg(m), "bgr8"), imgs[(cam, i)])
        info = msgs[t[f"{side}_info"]][0][1]
        assert info.header.frame_id == frame and info.distortion_model == "plumb_bob"
        assert (info.width, info.height) == (1242, 375)  # S_rect_0x, as kitti2bag
    right_p = msgs[t["right_info"]][0][1].p
    assert right_p[3] == pytest.approx(-339.5242) and right_p[0] == pytest.approx(721.5377)
    assert msgs[t["left_info"]][0][1].k[0] == pytest.approx(959.791)  # K_02 (kitti2bag's choice)


def test_raw_drive_limit_and_existing_output(raw_drive, tmp_path):
    drive, _ = raw_drive
    out = tmp_path / "b"
    assert kitti_to_bag.main([str(drive), str(out), "--limit", "2", "--no-progress"]) == 0
    topics, _ = _read(out)
    assert all(n == 2 for _, n in topics.values())
    assert kitti_to_bag.main([str(drive), str(out), "--no-progress"]) == 2  # never overwrites


def test_stereo2015_layout(tmp_path):
    root = tmp_path / "data_scene_flow" / "training"
    for i in range(2):
        for frame in ("10", "11"):
            _save(root / "image_2" / f"{i:06d}_{frame}.png", _img(i, (H, W, 3)))
            _save(root / "image_3" / f"{i:06d}_{frame}.png", _img(100 + i, (H, W, 3)))
        (root / "calib_cam_to_cam").mkdir(exist_ok=True)
        (root / "calib_cam_to_cam" / f"{i:06d}.txt").write_text(RAW_CALIB)
    out = tmp_path / "bag2015"
    rep = kitti_to_bag.convert(root, out, progress=False, hz=10)
    assert rep["layout"] == "stereo2015" and rep["frames"] == 2  # only the *_10 frames
    topics, msgs = _read(out)
    t = kitti_topics()
    stamps = [ts for ts, _ in msgs[t["left"]]]
    assert stamps[1] - stamps[0] == 100_000_000  # synthetic 10 Hz
    assert [ts for ts, _ in msgs[t["right"]]] == stamps
    np.testing.assert_array_equal(encoding_to_rgb(image_from_msg(msgs[t["right"]][1][1]), "bgr8"), _img(101))
    assert msgs[t["right_info"]][0][1].p[3] == pytest.approx(-339.5242)


def test_stereo2012_colored_layout_with_p2_p3(tmp_path):
    root = tmp_path / "data_stereo_flow" / "training"
    for i in range(2):
        _save(root / "colored_0" / f"{i:06d}_10.png", _img(i))
        _save(root / "colored_1" / f"{i:06d}_10.png", _img(50 + i))
        (root / "calib").mkdir(exist_ok=True)
        (root / "calib" / f"{i:06d}.txt").write_text(STEREO_CALIB)
    out = tmp_path / "bag2012"
    rep = kitti_to_bag.convert(root, out, progress=False)
    assert rep["layout"] == "stereo2012" and rep["frames"] == 2
    _, msgs = _read(out)
    info = msgs[kitti_topics()["right_info"]][0][1]
    assert info.p[3] == pytest.approx(-333.4597) and (info.width, info.height) == (W, H)
    assert list(info.k) == pytest.approx([707.0912, 0, 601.8873, 0, 707.0912, 183.1104, 0, 0, 1])


def test_no_layout_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no KITTI stereo layout"):
        kitti_to_bag.detect_layout(tmp_path)


@pytest.mark.parametrize("ros1", [False, True])
def test_synth_bag(tmp_path, ros1):
    out = tmp_path / ("s.bag" if ros1 else "s")
    rep = synth_bag.write_synth_bag(out, frames=3, size=(48, 160), hz=10, ros1=ros1)
    topics, msgs = _read(out)
    t = kitti_topics()
    assert set(topics) == set(t.values()) and all(n == 3 for _, n in topics.values())
    left = [m for _, m in msgs[t["left"]]]
    right = [m for _, m in msgs[t["right"]]]
    assert all((m.height, m.width, m.encoding) == (48, 160, "bgr8") for m in left + right)
    assert [m.header.frame_id for m in left[:1] + right[:1]] == ["camera_color_left", "camera_color_right"]
    a, b = image_from_msg(left[0]), image_from_msg(right[0])
    assert a.std() > 5 and not np.array_equal(a, b)  # textured, and the views differ (disparity)
    assert msgs[t["left_info"]][0][1].header.frame_id == "camera_color_left"
    assert rep["source"] in ("synthetic", "shift")


def test_synth_bag_motorcycle_cli(tmp_path):
    out = tmp_path / "moto"
    assert synth_bag.main([str(out), "--frames", "2", "--size", "60x200", "--source", "motorcycle"]) == 0
    _, msgs = _read(out)
    m = msgs[kitti_topics()["left"]][0][1]
    assert (m.height, m.width) == (60, 200)


def test_raw_drive_gray_cameras(tmp_path):
    drive = tmp_path / "2011_09_26_drive_0002_sync"
    for i in range(2):
        for cam in ("00", "01"):
            _save(drive / f"image_{cam}" / "data" / f"{i:010d}.png", _img(i + int(cam), (H, W)))
    (drive / "image_00" / "timestamps.txt").write_text("\n".join(STAMPS[:2]) + "\n")
    out = tmp_path / "gray"
    rep = kitti_to_bag.convert(drive, out, camera="gray", progress=False)
    assert rep["encoding"] == "mono8" and rep["calibration"] == "KITTI default intrinsics"
    topics, msgs = _read(out)
    t = kitti_topics("gray")
    assert set(topics) == set(t.values())
    m = msgs[t["right"]][1][1]
    assert (m.encoding, m.step, m.header.frame_id) == ("mono8", W, "camera_gray_right")
    np.testing.assert_array_equal(image_from_msg(m), _img(2, (H, W)))
