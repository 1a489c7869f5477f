"""End to end over real Fast DDS: test publisher -> left/right encoders -> decoder -> test subscriber.

The three nodes are started once for this module by ``dsc-launch`` (``python -m dsc_ros.tools.launcher``, the
same node_set the ROS 2 launch file uses), in their own namespace, with the camera inputs remapped, in a
random ROS domain (see ros_helpers). Checks: every pair arrives with headers, frame ids and encodings
preserved and pixels bit-identical to dsc_core decoding the same codes in this process; camera_info comes
out restamped; the right encoder's graph has no left subscription; bad inputs are counted in /diagnostics
and the nodes keep serving; a missing left gives a degraded right; Ctrl-C shuts everything down cleanly.
"""

from __future__ import annotations

import array
import time

import numpy as np
import pytest

import ros_helpers as rh

pytestmark = pytest.mark.skipif(rh.ros_available() is not None, reason=str(rh.ros_available()))

NS = "/dsc_e2e"
LEFT_IN = "/e2e_cam/left/image_raw"
RIGHT_IN = "/e2e_cam/right/image_raw"
H, W = 96, 320
TIMEOUT_MS = 2500.0
ENC_L = "dsc_ros/left_encoder: left encode"
ENC_R = "dsc_ros/right_encoder: right encode"
DEC_L = "dsc_ros/decoder: left decode"
DEC_R = "dsc_ros/decoder: right decode"


class Pipeline(rh.LaunchedRig):
    def __init__(self, tmp_path_factory):
        from sensor_msgs.msg import CameraInfo, Image

        from dsc_ros.msg import StereoCode

        cfg = rh.write_test_config(tmp_path_factory.mktemp("cfg"), timeout_ms=TIMEOUT_MS)
        self.log = tmp_path_factory.mktemp("logs") / "launch.log"
        self._launch(cfg, self.log, "dsc_e2e_test", NS, LEFT_IN, RIGHT_IN, 1_700_000_000 * 10**9)
        tn = self.tn
        self.pub = {"left": tn.publisher(Image, LEFT_IN), "right": tn.publisher(Image, RIGHT_IN)}
        self.info_pub = {
            "left": tn.publisher(CameraInfo, "/e2e_cam/left/camera_info"),
            "right": tn.publisher(CameraInfo, "/e2e_cam/right/camera_info"),
        }
        self.code_pub = {
            "left": tn.publisher(StereoCode, f"{NS}/left/dsc_code"),
            "right": tn.publisher(StereoCode, f"{NS}/right/dsc_code"),
        }
        self.out = {s: tn.collect(Image, f"{NS}/{s}/image_decoded") for s in ("left", "right")}
        self.info_out = {s: tn.collect(CameraInfo, f"{NS}/{s}/camera_info") for s in ("left", "right")}
        self.codes = {s: tn.collect(StereoCode, f"{NS}/{s}/dsc_code") for s in ("left", "right")}
        self.diag = rh.Diagnostics(tn)
        # The in-test codec, for bit-identical checks.
        self._load_codec()
        self._wait_ready(self.pub.values(), "encoder subscriptions not matched")

    def by_stamp(self, side: str):
        return self.stamped(self.out[side])

    def codes_by_stamp(self, side: str):
        return self.stamped(self.codes[side])

    def publish_pair(self, stamp, left, right, encoding="rgb8", pad=0, info=True, sides=("left", "right")):
        for side, img in (("left", left), ("right", right)):
            if side not in sides:
                continue
            if info:
                self.info_pub[side].publish(rh.camera_info_msg(stamp, f"e2e_{side}", H, W, 0 if side == "left" else 30))
            self.pub[side].publish(rh.image_msg(rh.to_encoding(img, encoding), encoding, stamp, f"e2e_{side}", pad))

    def wait_outputs(self, side, stamps, timeout=30.0):
        return self.wait_stamps(self.out[side], stamps, timeout)


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    p = Pipeline(tmp_path_factory)
    try:
        # One warm-up pair, re-sent until it comes out: DDS discovery between the nodes is complete after it.
        for attempt in range(10):
            st = p.stamp()
            L, R = rh.synthetic_pair(H, W, seed=100 + attempt)
            p.publish_pair(st, L, R)
            if p.wait_outputs("left", [st], 8) and p.wait_outputs("right", [st], 8):
                break
        else:
            raise RuntimeError("the pipeline never produced a decoded pair:\n" + p.proc.output()[-4000:])
        yield p
    finally:
        p.close()


# ----------------------------------------------------------------------------------------------- tests
def test_right_encoder_graph_has_no_left_subscription(pipe):
    node = pipe.tn.node
    right = dict(node.get_subscriber_names_and_types_by_node("right_encoder", NS))
    assert set(right) == {RIGHT_IN, "/e2e_cam/right/camera_info"}, right
    assert not any("left" in t for t in right)
    right_pubs = dict(node.get_publisher_names_and_types_by_node("right_encoder", NS))
    assert f"{NS}/right/dsc_code" in right_pubs and not any("left" in t for t in right_pubs)
    left = dict(node.get_subscriber_names_and_types_by_node("left_encoder", NS))
    assert set(left) == {LEFT_IN, "/e2e_cam/left/camera_info"}
    dec = dict(node.get_subscriber_names_and_types_by_node("decoder", NS))
    assert {f"{NS}/left/dsc_code", f"{NS}/right/dsc_code"} <= set(dec)
    assert dec[f"{NS}/right/dsc_code"] == ["dsc_ros/msg/StereoCode"]


CASES = [("rgb8", 0), ("rgb8", 5), ("bgr8", 0), ("bgr8", 3), ("mono8", 7), ("rgb8", 0)]


def test_every_pair_arrives_bit_identical(pipe):
    stamps = []
    imgs = {}
    for i, (enc, pad) in enumerate(CASES):
        st = pipe.stamp()
        L, R = rh.synthetic_pair(H, W, seed=i)
        pipe.publish_pair(st, L, R, encoding=enc, pad=pad)
        stamps.append(st)
        imgs[st] = enc
        time.sleep(0.15)
    assert pipe.wait_outputs("left", stamps, 60), pipe.proc.output()[-3000:]
    assert pipe.wait_outputs("right", stamps, 60), pipe.proc.output()[-3000:]
    outs = {s: pipe.by_stamp(s) for s in ("left", "right")}
    codes = {s: pipe.codes_by_stamp(s) for s in ("left", "right")}
    from dsc_ros.wire import msg_to_code

    for st in stamps:
        enc = imgs[st]
        for side in ("left", "right"):
            m = outs[side][st]
            assert m.header.frame_id == f"e2e_{side}"
            assert m.encoding == enc and (m.height, m.width) == (H, W)
            c = codes[side][st]
            assert c.encoding == enc and c.header.frame_id == f"e2e_{side}" and (c.height, c.width) == (H, W)
            assert c.model == "dsc-default" and c.role == side
        # the same codes decoded here, directly with dsc_core: identical pixels
        state = pipe.codec.decode_left(msg_to_code(codes["left"][st]), return_state=True)
        right, info = pipe.codec.decode_right(msg_to_code(codes["right"][st]), left=state, return_info=True)
        assert not info.degraded
        np.testing.assert_array_equal(rh.image_array(outs["left"][st]), state.image)
        np.testing.assert_array_equal(rh.image_array(outs["right"][st]), right)
    # quality sanity: decoded is close to the source (the model is not a random one)
    L, _ = rh.synthetic_pair(H, W, seed=0)
    err = np.abs(rh.image_array(outs["left"][stamps[0]]).astype(int) - L.astype(int)).mean()
    assert err < 40, err


def test_camera_info_restamped_next_to_images(pipe):
    stamps = set(pipe.by_stamp("right")) & set(pipe.by_stamp("left"))
    for side in ("left", "right"):
        infos = pipe.stamped(pipe.info_out[side])
        assert stamps <= set(infos), side
        m = infos[max(stamps)]
        assert m.header.frame_id == f"e2e_{side}" and (m.height, m.width) == (H, W)
        assert m.p[3] == (0.0 if side == "left" else -30.0)


def test_diagnostics_report_rates_and_latency(pipe):
    d = pipe.diag
    assert d.wait_value(DEC_R, "frames_out", lambda v: v >= len(CASES) + 1, 10)
    for name in (ENC_L, ENC_R, DEC_L, DEC_R):
        assert d.value(name, "bits_per_frame") > 0, name
        assert 0 < d.value(name, "bpp") < 8, name
        assert d.value(name, "latency_ms.median") > 0 and d.value(name, "latency_ms.p95") > 0, name
        assert d.value(name, "kbit_per_s") > 0, name
    assert d.value(DEC_R, "degraded") == 0


def test_bad_images_are_counted_and_the_encoder_keeps_serving(pipe):
    from sensor_msgs.msg import Image

    L, R = rh.synthetic_pair(H, W, seed=42)
    st = pipe.stamp()
    bad = []
    m = rh.image_msg(L, "rgb8", st, "e2e_left")
    m.encoding = "bgra8"  # unsupported (4 bytes/pixel)
    m.step = W * 4
    m.data = array.array("B", bytes(H * W * 4))
    bad.append(("unsupported_encoding", m))
    m = rh.image_msg(L, "rgb8", st + 1, "e2e_left")
    m.step = W * 3 - 2  # wrong step
    bad.append(("bad_step", m))
    m = Image()  # zero-size
    m.header.frame_id, m.encoding = "e2e_left", "rgb8"
    bad.append(("zero_size", m))
    m = rh.image_msg(L, "rgb8", st + 2, "e2e_left")
    m.data = array.array("B", bytes(m.data)[: len(m.data) // 2])  # truncated data
    bad.append(("short_data", m))
    before = {r: pipe.diag.value(ENC_L, f"dropped.{r}") for r, _ in bad}
    for _, m in bad:
        pipe.pub["left"].publish(m)
    for reason, _ in bad:
        assert pipe.diag.wait_value(ENC_L, f"dropped.{reason}", lambda v, b=before[reason]: v >= b + 1, 10), reason
    assert pipe.proc.wait_output("[unsupported_encoding]", 1, 5)  # and a log line says what was wrong
    # still serving
    st = pipe.stamp()
    pipe.publish_pair(st, L, R)
    assert pipe.wait_outputs("left", [st], 30) and pipe.wait_outputs("right", [st], 30)
    assert pipe.proc.popen.poll() is None


def test_bad_codes_are_counted_and_the_decoder_keeps_serving(pipe):
    import dsc_core
    from dsc_ros.msg import StereoCode
    from dsc_ros.wire import code_to_msg, msg_to_code

    good = pipe.codes_by_stamp("right")
    code = msg_to_code(good[max(good)])
    hdr = dsc_core.container.parse(code)
    corrupt = bytearray(code)
    corrupt[len(corrupt) // 2] ^= 0xFF
    L, R = rh.synthetic_pair(H, W, seed=7)
    paper = dsc_core.load_codec("dsc-paper", device="cpu").encode_right(R, "rgb8")

    def msg(data, st, hdr_=hdr):
        from std_msgs.msg import Header

        h = Header(frame_id="e2e_right")
        h.stamp.sec, h.stamp.nanosec = divmod(st, 10**9)
        return code_to_msg(bytes(data), h, hdr_, StereoCode())

    before = {r: pipe.diag.value(DEC_R, f"dropped.{r}") for r in ("corrupt_code", "model_mismatch")}
    deg_before = pipe.diag.value(DEC_R, "degraded")
    pipe.code_pub["right"].publish(msg(corrupt, pipe.stamp()))
    pipe.code_pub["right"].publish(msg(b"\x00garbage, not a dsc container" * 3, pipe.stamp()))
    pipe.code_pub["right"].publish(msg(paper, pipe.stamp(), dsc_core.container.parse(paper)))
    assert pipe.diag.wait_value(DEC_R, "dropped.corrupt_code", lambda v: v >= before["corrupt_code"] + 2, 10)
    assert pipe.diag.wait_value(DEC_R, "dropped.model_mismatch", lambda v: v >= before["model_mismatch"] + 1, 10)
    # still serving, and none of the rejected codes reached the pairing buffer (no degraded output)
    st = pipe.stamp()
    pipe.publish_pair(st, L, R)
    assert pipe.wait_outputs("left", [st], 30) and pipe.wait_outputs("right", [st], 30)
    time.sleep(TIMEOUT_MS / 1e3 + 0.5)
    assert pipe.diag.value(DEC_R, "degraded") == deg_before


def test_missing_left_gives_degraded_right_and_lone_left_decodes(pipe):
    from dsc_ros.wire import msg_to_code

    L, R = rh.synthetic_pair(H, W, seed=9)
    deg_before = pipe.diag.value(DEC_R, "degraded")
    st_r = pipe.stamp()
    st_l = pipe.stamp()  # 100 ms later: far outside the slop, so they do not pair
    t0 = time.monotonic()
    pipe.publish_pair(st_r, L, R, sides=("right",))
    pipe.publish_pair(st_l, L, R, sides=("left",))
    assert pipe.wait_outputs("right", [st_r], TIMEOUT_MS / 1e3 + 20), pipe.proc.output()[-3000:]
    assert time.monotonic() - t0 >= TIMEOUT_MS / 1e3 * 0.9  # it waited for its left first
    assert pipe.diag.wait_value(DEC_R, "degraded", lambda v: v >= deg_before + 1, 10)
    code = msg_to_code(pipe.codes_by_stamp("right")[st_r])
    expect, info = pipe.codec.decode_right(code, left=None, return_info=True)
    assert info.degraded
    np.testing.assert_array_equal(rh.image_array(pipe.by_stamp("right")[st_r]), expect)
    assert pipe.wait_outputs("left", [st_l], 20)
    assert st_l not in pipe.by_stamp("right") and st_r not in pipe.by_stamp("left")


def test_zz_ctrl_c_shuts_everything_down_cleanly(pipe):
    """Last in the module: SIGINT to dsc-launch reaches every node once; each logs its summary and exits 0."""
    rc = pipe.proc.interrupt(40)
    out = pipe.proc.output()
    assert rc == 0, out[-4000:]
    assert out.count("process has finished cleanly") == 3, out[-4000:]
    for name in ("left encode", "right encode", "left decode", "right decode"):
        assert f"summary {name}:" in out
