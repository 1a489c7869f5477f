"""Issue "Any left stream", ROS half: the left encoder's ``left_codec`` / ``left_quality`` and the decoder's
``left_input: compressed_image``.

In-process first (the nodes with the stand-in codec of test_ros_node_logic: parameter handling, pairing,
every bad CompressedImage counted under its reason), then ONE real-process run over Fast DDS: the three
nodes under ``dsc-launch`` plus a second decoder process with ``left_input:=compressed_image``; the test
process publishes camera images and the left camera's JPEG ``sensor_msgs/CompressedImage`` like a camera
driver with compressed_image_transport would. There the left encoder goes through every left codec (set at
run time) and the decoded lefts are bit-exact to the library's; the JPEG left pairs with the real right
encoder's codes and the decoded right is bit-exact to the library's decode with that JPEG as side information;
corrupt, unsupported and wrong-size CompressedImages are counted and the decoder keeps serving.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import ros_helpers as rh

pytestmark = pytest.mark.skipif(rh.ros_available() is not None, reason=str(rh.ros_available()))

from test_ros_node_logic import FakeCodec, code_msg, make_node, wait  # noqa: E402,F401  (fixture reused)


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def compressed_msg(data: bytes, stamp_ns: int, fmt: str = "rgb8; jpeg compressed bgr8", frame_id: str = "cam_left"):
    """A sensor_msgs/CompressedImage as compressed_image_transport publishes it."""
    import array

    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import Header

    h = Header(frame_id=frame_id)
    h.stamp.sec, h.stamp.nanosec = divmod(int(stamp_ns), 10**9)
    return CompressedImage(header=h, format=fmt, data=array.array("B", data))


def _image(h, w, seed=0):
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------- the left encoder
def test_left_encoder_passes_the_codec_and_quality_read_at_every_frame(make_node):
    from rclpy.parameter import Parameter

    from ros_helpers import image_msg

    e = make_node("left", left_codec="jpeg", left_quality=70, warmup=False)
    e._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", 10**9, "cam_left"))
    assert wait(lambda: e.stats.frames_out == 1)
    assert e.fake.left_options_seen[-1] == (None, "jpeg", 70)  # a classical left takes no rate
    assert e.set_parameters([Parameter("left_quality", Parameter.Type.INTEGER, -1)])[0].successful
    e._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", 2 * 10**9, "cam_left"))
    assert wait(lambda: e.stats.frames_out == 2)
    assert e.fake.left_options_seen[-1] == (None, "jpeg", None)  # -1: the codec's own default
    assert e.set_parameters([Parameter("left_codec", Parameter.Type.STRING, "level1")])[0].successful
    e._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", 3 * 10**9, "cam_left"))
    assert wait(lambda: e.stats.frames_out == 3)
    assert e.fake.left_options_seen[-1][0] is None and len(e.fake.left_options_seen[-1]) == 3
    # bad values are refused at set time, with the reason, and change nothing
    for name, kind, value, why in (
        ("left_quality", Parameter.Type.INTEGER, 101, "0..100"),
        ("left_codec", Parameter.Type.STRING, "webp", "must be one of"),
    ):
        res = e.set_parameters([Parameter(name, kind, value)])[0]
        assert not res.successful and why in res.reason
    assert e.p["left_codec"] == "level1" and e.p["left_quality"] == -1


def test_left_encoder_refuses_a_bad_quality_or_an_unavailable_codec_at_start(make_node, monkeypatch):
    from dsc_core import left_codecs

    with pytest.raises(ValueError, match="left_quality=200"):
        make_node("left", left_codec="jpeg", left_quality=200)
    monkeypatch.setattr(left_codecs.ClassicalCodec, "availability", lambda self: (False, "no plugin here"))
    with pytest.raises(ValueError, match="no plugin here"):
        make_node("left", left_codec="jxl")


def test_right_encoder_has_no_left_codec_parameter(make_node):
    e = make_node("right")
    assert "left_codec" not in e.p and "left_quality" not in e.p


# ------------------------------------------------------------------------------------------- the decoder
def test_compressed_left_pairs_with_a_right_code_and_counts_its_real_bytes(make_node):
    d = make_node(left_input="compressed_image")
    assert "left" not in d.code_sub and d.left_sub.topic_name.endswith("left/image_raw/compressed")
    left = _image(4, 6)
    data = jpeg_bytes(left)
    d._on_compressed_left(compressed_msg(data, 10**9))
    d._on_code("right", code_msg(d.fake._pack, "right", 10**9))
    assert wait(lambda: d.stats["right"].frames_out == 1 and d.stats["left"].frames_out == 1)
    assert d.stats["right"].degraded == 0  # the JPEG was the side information
    assert d.stats["left"].snapshot()["bits_per_frame"] == 8 * len(data)  # the left's real bytes: the JPEG's


def test_bad_compressed_lefts_are_counted_and_the_right_still_decodes(make_node):
    d = make_node(left_input="compressed_image", **{"sync.timeout_ms": 50.0, "limits.max_pixels": 10_000})
    h, w = 32, 48
    good = jpeg_bytes(_image(h, w))
    st = d.stats["left"]
    d._on_compressed_left(compressed_msg(b"\x00garbage" * 8, 1 * 10**9))  # not a JPEG at all
    assert st.dropped["corrupt_image"] == 1
    d._on_compressed_left(compressed_msg(good, 2 * 10**9, fmt="16UC1; compressedDepth png"))  # depth, not a camera
    d._on_compressed_left(compressed_msg(good, 3 * 10**9, fmt="h264"))
    assert st.dropped["unsupported_format"] == 2
    d._on_compressed_left(compressed_msg(good, 4 * 10**9, fmt="png"))  # a JPEG called png
    assert st.dropped["corrupt_image"] == 2
    big = jpeg_bytes(_image(200, 300))  # more than limits.max_pixels: refused from its header, no pixels
    d._on_compressed_left(compressed_msg(big, 5 * 10**9))
    assert st.dropped["too_large"] == 1
    assert d.sync.pending("left") == 0 and len(d._queue) == 0  # none of them took a slot
    # truncated: the header reads, the pixels do not -> counted by the worker, the right goes out degraded
    d._on_compressed_left(compressed_msg(good[: len(good) // 2], 6 * 10**9))
    d._on_code("right", code_msg(d.fake._pack, "right", 6 * 10**9, h=h, w=w))
    assert wait(lambda: d.stats["right"].frames_out == 1)
    assert st.dropped["corrupt_image"] == 3 and d.stats["right"].degraded_by["left_undecodable"] == 1
    # another size than the right: the left is published, the right decoded degraded
    d._on_compressed_left(compressed_msg(jpeg_bytes(_image(h // 2, w)), 7 * 10**9))
    d._on_code("right", code_msg(d.fake._pack, "right", 7 * 10**9, h=h, w=w))
    assert wait(lambda: d.stats["right"].frames_out == 2 and st.frames_out == 1)
    assert d.stats["right"].degraded_by["side_info_mismatch"] == 1
    # and a good pair still decodes with its left
    d._on_compressed_left(compressed_msg(good, 8 * 10**9))
    d._on_code("right", code_msg(d.fake._pack, "right", 8 * 10**9, h=h, w=w))
    assert wait(lambda: d.stats["right"].frames_out == 3)
    assert d.stats["right"].degraded == 2


def test_compressed_format_strings_as_image_transport_writes_them():
    from dsc_ros import wire

    assert wire.parse_compressed_format("jpeg") == ("jpeg", "rgb8")
    assert wire.parse_compressed_format("PNG") == ("png", "rgb8")
    assert wire.parse_compressed_format("bgr8; jpeg compressed bgr8") == ("jpeg", "bgr8")
    assert wire.parse_compressed_format("rgb8; jpeg compressed bgr8") == ("jpeg", "rgb8")
    assert wire.parse_compressed_format(" mono8 ;  png compressed mono8 ") == ("png", "mono8")
    for bad in ("", "tiff", "h264", "16UC1; compressedDepth png", "bgra16; png compressed bgra16"):
        with pytest.raises(wire.ImageConversionError) as e:
            wire.parse_compressed_format(bad)
        assert e.value.reason == "unsupported_format"


# ------------------------------------------------------------------------------------------- over Fast DDS
NS = "/dsc_ls"  # the three nodes under dsc-launch
JPEG_NS = "/dsc_ls_jpeg"  # a second decoder that takes the left camera's CompressedImage
LEFT_IN, RIGHT_IN = "/ls_cam/left/image_raw", "/ls_cam/right/image_raw"
H, W = 64, 128
JPEG_L, JPEG_R = "dsc_ros/jpeg_decoder: left decode", "dsc_ros/jpeg_decoder: right decode"


class LeftStreamRig(rh.LaunchedRig):
    def __init__(self, tmp):
        import yaml
        from sensor_msgs.msg import CompressedImage, Image

        cfg = rh.write_test_config(tmp, timeout_ms=2500.0)
        doc = yaml.safe_load(cfg.read_text())
        import copy

        jpeg = dict(copy.deepcopy(doc["/**/decoder"]["ros__parameters"]), left_input="compressed_image")
        doc["/**/jpeg_decoder"] = {"ros__parameters": jpeg}
        cfg.write_text(yaml.safe_dump(doc))
        self._launch(cfg, tmp / "launch.log", "dsc_left_stream_test", NS, LEFT_IN, RIGHT_IN, 1_900_000_000 * 10**9)
        # The JPEG decoder pairs the camera's CompressedImage with the codes of the launched right encoder.
        self.jpeg_proc = rh.Process(
            [
                sys.executable,
                "-m",
                "dsc_ros.nodes.decoder",
                "--ros-args",
                "-r",
                "__node:=jpeg_decoder",
                "-r",
                f"__ns:={JPEG_NS}",
                "--params-file",
                str(cfg),
                "-r",
                f"left/image_raw/compressed:={LEFT_IN}/compressed",
                "-r",
                f"right/dsc_code:={NS}/right/dsc_code",
            ],
            tmp / "jpeg_decoder.log",
        )
        self.img_pub = {"left": self.tn.publisher(Image, LEFT_IN), "right": self.tn.publisher(Image, RIGHT_IN)}
        self.jpeg_pub = self.tn.publisher(CompressedImage, f"{LEFT_IN}/compressed")
        self.out = {s: self.tn.collect(Image, f"{NS}/{s}/image_decoded") for s in ("left", "right")}
        self.jpeg_out = {s: self.tn.collect(Image, f"{JPEG_NS}/{s}/image_decoded") for s in ("left", "right")}
        self.diag = rh.Diagnostics(self.tn)
        self._load_codec()
        self._wait_ready(list(self.img_pub.values()), "an encoder's subscription never matched")
        if not self.jpeg_proc.wait_output(rh.node_set.READY_MARKER, 1, 180):
            raise RuntimeError("jpeg decoder not ready:\n" + self.jpeg_proc.output()[-4000:])
        assert self.tn.wait_matched(self.jpeg_pub, 1, 30), "the jpeg decoder never subscribed"

    def set_left_codec(self, codec: str, quality: int) -> None:
        """``ros2 param set`` on the running left encoder, through its parameter service."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        cli = self.tn.node.create_client(SetParameters, f"{NS}/left_encoder/set_parameters")
        assert cli.wait_for_service(timeout_sec=30)
        req = SetParameters.Request(
            parameters=[
                Parameter("left_codec", value=codec).to_parameter_msg(),
                Parameter("left_quality", value=quality).to_parameter_msg(),
            ]
        )
        fut = cli.call_async(req)
        self.tn.wait_for(fut.done, 20)
        assert fut.done() and all(r.successful for r in fut.result().results), fut.result()
        self.tn.node.destroy_client(cli)

    def send_images(self, stamp, left, right):
        if left is not None:
            self.img_pub["left"].publish(rh.image_msg(left, "rgb8", stamp, "ls_left"))
        if right is not None:
            self.img_pub["right"].publish(rh.image_msg(right, "rgb8", stamp, "ls_right"))

    def send_jpeg(self, stamp, data: bytes, fmt: str = "rgb8; jpeg compressed rgb8"):
        self.jpeg_pub.publish(compressed_msg(data, stamp, fmt, "ls_left"))

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.jpeg_proc.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = LeftStreamRig(tmp_path_factory.mktemp("left_stream"))
    try:
        for attempt in range(10):  # warm-up pair, re-sent until it comes out (DDS discovery complete)
            st = r.stamp()
            r.send_images(st, *rh.synthetic_pair(H, W, seed=700 + attempt))
            if r.wait_stamps(r.out["left"], [st], 8) and r.wait_stamps(r.out["right"], [st], 8):
                break
        else:
            raise RuntimeError("no decoded pair:\n" + r.proc.output()[-4000:])
        yield r
    finally:
        r.close()


def test_dds_every_left_codec_round_trips_through_the_nodes(rig):
    from dsc_core import left_codecs

    L, R = rh.synthetic_pair(H, W, seed=31)
    right_code = rig.codec.encode_right(R)
    for codec, quality in [(c, 70) for c, (ok, _) in left_codecs.available().items() if ok] + [("level1", -1)]:
        rig.set_left_codec(codec, quality)
        st = rig.stamp()
        rig.send_images(st, L, R)
        assert rig.wait_stamps(rig.out["left"], [st], 60) and rig.wait_stamps(rig.out["right"], [st], 60), (
            codec,
            rig.proc.output()[-3000:],
        )
        kw = {} if codec == "level1" else {"codec": codec, "quality": quality}
        left_code = rig.codec.encode_left(L, **kw)
        got = rig.stamped(rig.out["left"])[st]
        np.testing.assert_array_equal(rh.image_array(got), rig.codec.decode_left(left_code), err_msg=codec)
        # the right used that left as side information (not degraded), exactly as the library decodes it
        np.testing.assert_array_equal(
            rh.image_array(rig.stamped(rig.out["right"])[st]),
            rig.codec.decode_right(right_code, left=rig.codec.decode_left(left_code, return_state=True)),
            err_msg=codec,
        )
    assert rig.diag.value("dsc_ros/decoder: right decode", "degraded.side_info_mismatch") == 0


def test_dds_compressed_image_left_pairs_with_right_codes(rig):
    from PIL import Image

    sizes = []
    for seed in (41, 42):
        L, R = rh.synthetic_pair(H, W, seed=seed)
        jpeg = jpeg_bytes(L, 85)
        sizes.append(len(jpeg))
        st = rig.stamp()
        rig.send_jpeg(st, jpeg)
        rig.send_images(st, None, R)
        assert rig.wait_stamps(rig.jpeg_out["left"], [st], 60) and rig.wait_stamps(rig.jpeg_out["right"], [st], 60), (
            rig.jpeg_proc.output()[-3000:]
        )
        decoded_jpeg = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
        np.testing.assert_array_equal(rh.image_array(rig.stamped(rig.jpeg_out["left"])[st]), decoded_jpeg)
        expected = rig.codec.decode_right(
            rig.codec.encode_right(R), left=rig.codec.left_state_from_image(decoded_jpeg, "rgb8")
        )
        np.testing.assert_array_equal(rh.image_array(rig.stamped(rig.jpeg_out["right"])[st]), expected)
    assert rig.diag.wait_value(JPEG_L, "frames_out", lambda v: v >= 2, 10)
    assert rig.diag.value(JPEG_L, "dropped") == 0
    # diagnostics count the left's real bytes: the JPEG's (both frames' streams are in the window)
    assert rig.diag.value(JPEG_L, "bits_per_frame") == pytest.approx(8 * np.mean(sizes))


def test_dds_bad_compressed_lefts_are_counted_and_the_decoder_keeps_serving(rig):
    L, R = rh.synthetic_pair(H, W, seed=51)
    good = jpeg_bytes(L)
    small = jpeg_bytes(rh.synthetic_pair(H // 2, W // 2, seed=51)[0])
    cases = [(b"\x00not a jpeg" * 20, "jpeg"), (good, "16UC1; compressedDepth png"), (small, "jpeg")]
    stamps = []
    for data, fmt in cases:
        st = rig.stamp()
        stamps.append(st)
        rig.send_jpeg(st, data, fmt)
        rig.send_images(st, None, R)
    # every right still comes out (degraded), the wrong-size left is published at its own size
    assert rig.wait_stamps(rig.jpeg_out["right"], stamps, 60), rig.jpeg_proc.output()[-3000:]
    assert rig.diag.wait_value(JPEG_L, "dropped.corrupt_image", lambda v: v >= 1, 15)
    assert rig.diag.wait_value(JPEG_L, "dropped.unsupported_format", lambda v: v >= 1, 15)
    assert rig.diag.wait_value(JPEG_R, "degraded.side_info_mismatch", lambda v: v >= 1, 15)
    assert rig.jpeg_proc.wait_output("[corrupt_image]", 1, 5) and rig.jpeg_proc.wait_output(
        "[unsupported_format]", 1, 5
    )
    assert rig.stamped(rig.jpeg_out["left"])[stamps[2]].height == H // 2
    # and the node survives: a good pair afterwards decodes with its left
    st = rig.stamp()
    rig.send_jpeg(st, good)
    rig.send_images(st, None, R)
    assert rig.wait_stamps(rig.jpeg_out["right"], [st], 60) and rig.jpeg_proc.popen.poll() is None
