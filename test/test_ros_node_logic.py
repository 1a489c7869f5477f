"""The encoder and decoder nodes' logic in-process with a stand-in codec (no torch, no model, no process).

Why: the end-to-end test proves the real pipeline; this one reaches the branches that would need
several differently-configured nodes there (publish_degraded false, wrong role, pairing-buffer
overflow and duplicates, work-queue overflow, codec errors, a bad rate parameter) in a fraction of a second.
The stand-in produces real DSCC containers (``dsc_core.container.pack``), so the node's parsing
and checks run as in production.
"""

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from ros_helpers import ros_available

pytestmark = pytest.mark.skipif(ros_available() is not None, reason=str(ros_available()))

FAMILY, HEAD = b"F" * 8, b"H" * 8


class FakeCodec:
    """Same calls as dsc_core's StereoCodec; decodes to a constant image; can be slowed down."""

    name = "dsc-default"
    device = "cpu"
    family_fp, head_fp, right_role = FAMILY, HEAD, "right"
    left_rates, right_rates = [0, 1, 2], [0, 1]

    def __init__(self):
        self.delay = 0.0
        self.side_info_seen: list = []
        self.left_options_seen: list = []  # (rate, codec, quality) of every encode_left
        self.gate = threading.Event()
        self.gate.set()

    def _pack(self, role, h, w, encoding, family=FAMILY, head=HEAD, model="dsc-default"):
        from dsc_core import container

        hdr = container.Header(
            role=role,
            rate=0,
            family=family,
            head=bytes(8) if role == "left" else head,
            height=h,
            width=w,
            encoding=encoding,
            model=model,
            strings=(container.StringInfo((1, 1, 1), 0, 3),),
        )
        return container.pack(hdr, [b"abc"])

    def check(self, hdr, side, max_pixels=None):
        """The real codec's identity checks (the fake has no rates or latent shapes to add)."""
        from dsc_core import container

        limit = 3840 * 2160 if max_pixels is None else max_pixels
        container.check_identity(
            hdr, side, model=self.name, family=FAMILY, head=HEAD, right_role=self.right_role, max_pixels=limit
        )

    @staticmethod
    def _with_header(data, return_header):
        from dsc_core import container

        return (data, container.parse(data)) if return_header else data

    def encode_left(self, img, encoding="rgb8", rate=None, codec="level1", quality=None, *, return_header=False):
        self.gate.wait(10)
        self.left_options_seen.append((rate, codec, quality))
        if img.shape[0] == 13:  # a size the "model" refuses
            from dsc_core.errors import ImageFormatError

            raise ImageFormatError("13 rows are unlucky")
        if img.shape[0] == 14:
            raise RuntimeError("out of memory (pretend)")
        return self._with_header(self._pack("left", img.shape[0], img.shape[1], encoding), return_header)

    def encode_right(self, img, encoding="rgb8", rate=None, *, return_header=False):
        return self._with_header(self._pack("right", img.shape[0], img.shape[1], encoding), return_header)

    def _img(self, hdr, value):
        self.gate.wait(10)
        time.sleep(self.delay)
        shape = (hdr.height, hdr.width) if hdr.encoding == "mono8" else (hdr.height, hdr.width, 3)
        return np.full(shape, value, np.uint8)

    def decode_left(self, data, return_state=False):
        from dsc_core import container

        hdr = container.parse(data)
        img = self._img(hdr, 10)
        return SimpleNamespace(image=img, header=hdr) if return_state else img

    def left_state_from_image(self, image, encoding="rgb8"):
        from dsc_core import container

        h, w = image.shape[:2]
        hdr = container.Header(
            role="left", rate=0, family=FAMILY, head=bytes(8), height=h, width=w, encoding=encoding, model=self.name
        )
        return SimpleNamespace(image=image, header=hdr)

    def decode_right(self, data, left=None, return_info=False, side_info=None):
        from dsc_core import container
        from dsc_core.errors import MissingSideInformationError

        self.side_info_seen.append(side_info)
        hdr = container.parse(data)
        if left is not None and (left.header.height, left.header.width) != (hdr.height, hdr.width):
            raise MissingSideInformationError(
                f"left is {left.header.width}x{left.header.height} but right is {hdr.width}x{hdr.height}"
            )
        img = self._img(hdr, 20 if left is not None else 30)
        return (img, SimpleNamespace(degraded=left is None, header=hdr)) if return_info else img


@pytest.fixture
def make_node(monkeypatch):
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    import dsc_core

    fake = FakeCodec()
    monkeypatch.setattr(dsc_core, "load_codec", lambda model, device=None: fake)
    ctx = Context()
    rclpy.init(context=ctx, domain_id=231, signal_handler_options=SignalHandlerOptions.NO)
    nodes = []

    def make(kind="decoder", **overrides):
        from dsc_ros.nodes.decoder import DecoderNode
        from dsc_ros.nodes.encoder import EncoderNode

        types = {
            bool: Parameter.Type.BOOL,
            int: Parameter.Type.INTEGER,
            float: Parameter.Type.DOUBLE,
            str: Parameter.Type.STRING,
        }
        ps = [Parameter(k, types[type(v)], v) for k, v in overrides.items()]
        if kind == "decoder":
            n = DecoderNode(context=ctx, parameter_overrides=ps)
        else:
            n = EncoderNode(kind, context=ctx, parameter_overrides=ps)
        n.fake = fake
        nodes.append(n)
        return n

    yield make
    fake.gate.set()
    for n in nodes:
        n.close()
        n.destroy_node()
    ctx.try_shutdown()


def code_msg(codec_fn, side, stamp_ns, h=4, w=6, encoding="rgb8", **kw):
    from std_msgs.msg import Header

    import dsc_core
    from dsc_ros.msg import StereoCode
    from dsc_ros.wire import code_to_msg

    data = codec_fn(side, h, w, encoding, **kw)
    hdr = Header(frame_id=f"cam_{side}")
    hdr.stamp.sec, hdr.stamp.nanosec = divmod(stamp_ns, 10**9)
    return code_to_msg(data, hdr, dsc_core.container.parse(data), StereoCode())


def wait(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_pair_and_degraded_paths(make_node):
    d = make_node(**{"sync.timeout_ms": 50.0})
    f = d.fake._pack
    d._on_code("left", code_msg(f, "left", 1_000_000_000))
    d._on_code("right", code_msg(f, "right", 1_000_000_000))
    assert wait(lambda: d.stats["right"].frames_out == 1 and d.stats["left"].frames_out == 1)
    assert d.fake.side_info_seen[-1] is None  # side_info "" = the model's own default
    d._on_code("right", code_msg(f, "right", 2_000_000_000))
    time.sleep(0.08)
    d._expire()
    assert wait(lambda: d.stats["right"].frames_out == 2)
    assert d.stats["right"].degraded == 1 and d.sync.counts["right_only"] == 1
    assert d.stats["right"].degraded_by["no_left"] == 1
    d._on_code("left", code_msg(f, "left", 3_000_000_000))  # a left whose right never comes
    time.sleep(0.08)
    d._expire()
    assert wait(lambda: d.stats["left"].frames_out == 2)
    assert d.stats["left"].snapshot()["unpaired"] == 1 and d.stats["right"].frames_in == 2


def test_unexpected_worker_failure_is_counted_on_the_pairs_streams(make_node):
    d = make_node()
    f = d.fake._pack
    real, calls = d._publish, []

    def flaky(side, *a):
        calls.append(side)
        if len(calls) == 1:
            raise RuntimeError("a bug in the node (pretend)")
        return real(side, *a)

    d._publish = flaky
    for st in (1_000_000_000, 2_000_000_000):
        d._on_code("left", code_msg(f, "left", st))
        d._on_code("right", code_msg(f, "right", st))
    assert wait(lambda: d.stats["right"].frames_out == 1 and d.stats["left"].frames_out == 1)
    assert d.stats["left"].dropped["internal_error"] == 1 and d.stats["right"].dropped["internal_error"] == 1
    assert "internal_error" in d._last_log


def test_publish_degraded_false_drops_and_counts(make_node):
    d = make_node(**{"sync.timeout_ms": 20.0, "publish_degraded": False, "publish_unpaired_left": False})
    f = d.fake._pack
    d._on_code("right", code_msg(f, "right", 5))
    d._on_code("left", code_msg(f, "left", 10**9))
    time.sleep(0.05)
    d._expire()
    time.sleep(0.05)
    assert d.stats["right"].dropped["no_left"] == 1 and d.stats["right"].frames_out == 0
    assert d.stats["left"].dropped["no_right"] == 1 and d.stats["left"].frames_out == 0
    assert d.stats["right"].degraded == 0


def test_wrong_role_and_foreign_model_rejected_before_pairing(make_node):
    d = make_node()
    f = d.fake._pack
    d._on_code("left", code_msg(f, "right", 1))  # a right code on the left topic
    d._on_code("right", code_msg(f, "left", 2))  # a left code on the right topic
    d._on_code("right", code_msg(f, "right", 3, family=b"X" * 8, model="other"))
    d._on_code("right", code_msg(f, "right", 4, head=b"Y" * 8))
    d._on_code("right", code_msg(f, "right-paper", 5))
    assert d.stats["left"].dropped["wrong_role"] == 1
    assert d.stats["right"].dropped["wrong_role"] == 1
    assert d.stats["right"].dropped["model_mismatch"] == 3
    assert d.sync.pending("left") == d.sync.pending("right") == 0


def test_sync_overflow_and_duplicates_counted_per_stream(make_node):
    d = make_node(**{"sync.max_pending": 2, "sync.timeout_ms": 10_000.0})
    f = d.fake._pack
    for st in (1, 2, 3):
        d._on_code("left", code_msg(f, "left", st))
    d._on_code("left", code_msg(f, "left", 3))
    assert d.stats["left"].dropped["sync_overflow"] == 1
    assert d.stats["left"].dropped["duplicate"] == 1


def test_work_queue_drops_oldest_and_executor_never_blocks(make_node):
    d = make_node(**{"queue_size": 2})
    f = d.fake._pack
    d.fake.gate.clear()  # the model "hangs"
    d._on_code("left", code_msg(f, "left", 10**9))
    d._on_code("right", code_msg(f, "right", 10**9))
    assert wait(lambda: len(d._queue) == 0)  # the worker holds pair 1 (stuck in the model)
    t0 = time.monotonic()
    for st in range(2, 8):
        d._on_code("left", code_msg(f, "left", st * 10**9))
        d._on_code("right", code_msg(f, "right", st * 10**9))
    assert time.monotonic() - t0 < 1.0  # callbacks return at once while the worker is stuck
    # 7 pairs: one in the worker's hands, 2 queued, 4 evicted (each eviction drops a left and a right)
    assert d.stats["left"].dropped["queue_overflow"] == 4 and d.stats["right"].dropped["queue_overflow"] == 4
    assert "queue_overflow" in d._last_log  # and said so in the log (throttled), not only counted
    d.fake.gate.set()
    assert wait(lambda: d.stats["right"].frames_out == 3)


def test_camera_info_restamped_exact_or_latest(make_node):
    from sensor_msgs.msg import CameraInfo
    from std_msgs.msg import Header

    d = make_node()
    info = CameraInfo(width=6, height=4)
    info.header.frame_id = "cam_left_optical"
    info.header.stamp.sec = 7
    d._on_info("left", info)
    h = Header(frame_id="cam_left")
    h.stamp.sec, h.stamp.nanosec = 9, 5
    out = d._camera_info_for("left", h)
    assert (out.header.stamp.sec, out.header.stamp.nanosec) == (9, 5)
    assert out.header.frame_id == "cam_left_optical" and out.width == 6
    assert d._camera_info_for("right", h) is None
    for i in range(40):
        d._on_info("left", CameraInfo(header=Header(stamp=type(h.stamp)(sec=100 + i))))
    assert len(d._infos["left"]) == 16  # bounded


def test_diagnostics_published(make_node):
    d = make_node()
    st = [s for s in d.streams]
    assert [s.name for s in st] == ["left decode", "right decode"]
    d.publish_diagnostics()  # does not raise; values include the pairing state
    assert set(d.extra_diagnostics(d.stats["left"])) == {"sync.pending", "sync.pairs", "queue"}


# ------------------------------------------------------------------------------------------ encoder
def test_encoder_counts_codec_errors_and_keeps_serving(make_node):
    from ros_helpers import image_msg

    e = make_node("left", queue_size=8)
    for h in (13, 14, 8):
        e._on_image(image_msg(np.zeros((h, 6, 3), np.uint8), "rgb8", h * 10**9, "cam_left"))
    assert wait(lambda: e.stats.frames_out == 1)
    assert e.stats.dropped["bad_image"] == 1 and e.stats.dropped["encode_error"] == 1
    assert e.stats.frames_in == 3


def test_encoder_rejects_bad_images_in_the_callback(make_node):
    from ros_helpers import image_msg

    e = make_node("right")
    m = image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", 1, "cam_right")
    m.encoding = "rgba8"
    e._on_image(m)
    assert e.stats.dropped["unsupported_encoding"] == 1 and len(e._queue) == 0


def test_encoder_queue_drops_oldest(make_node):
    from ros_helpers import image_msg

    e = make_node("left", queue_size=1)
    e.fake.gate.clear()
    e._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", 1, "cam_left"))
    assert wait(lambda: len(e._queue) == 0)  # in the worker's hands
    for st in range(2, 6):
        e._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", st, "cam_left"))
    assert e.stats.dropped["queue_overflow"] == 3
    assert "queue_overflow" in e._last_log
    e.fake.gate.set()
    assert wait(lambda: e.stats.frames_out == 2)


def test_encoder_refuses_a_rate_the_model_does_not_have(make_node):
    with pytest.raises(ValueError, match="rate=5"):
        make_node("right", rate=5)
    assert make_node("right", rate=1).rate == 1


def test_throttled_encoders_code_the_same_frames_whatever_their_speed(make_node):
    """Two throttled encoders, the left one stalled, fed the same 10 Hz stamps (the right's 40 us later and
    starting 0.3 s later): both code the frames of the same 0.5-s slots; the rest count as skipped, not
    dropped."""
    from ros_helpers import image_msg

    left = make_node("left", queue_size=8, **{"throttle.max_rate_hz": 2.0})
    right = make_node("right", queue_size=8, **{"throttle.max_rate_hz": 2.0})
    coded = {"left": [], "right": []}

    class Recorder:  # stands in for the code publisher, keeps the stamps coded
        def __init__(self, side):
            self.side = side

        def publish(self, msg):
            coded[self.side].append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)

    left.code_pub, right.code_pub = Recorder("left"), Recorder("right")
    t0 = 1_700_000_000_123_000_000  # not on a slot boundary: the right camera starts 0.3 s later
    left.fake.gate.clear()  # the left encoder is stuck while the frames come in
    for i in range(40):
        t = t0 + i * 100_000_000
        left._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", t, "cam_left"))
        if i >= 3:
            right._on_image(image_msg(np.zeros((4, 6, 3), np.uint8), "rgb8", t + 40_000, "cam_right"))
    left.fake.gate.set()
    assert wait(lambda: len(coded["left"]) == 8 and len(coded["right"]) == 8)
    lefts = {t // 10**6 for t in coded["left"]}
    rights = {(t - 40_000) // 10**6 for t in coded["right"]}
    # Both started mid-slot, so both wait for the boundary at ...0.49 s; from there on they agree.
    assert lefts == rights and len(lefts) == 8 and min(lefts) == (t0 + 4 * 10**8) // 10**6
    assert left.stats.skipped == 32 and sum(left.stats.dropped.values()) == 0
    assert right.stats.skipped == 29 and sum(right.stats.dropped.values()) == 0
    assert right.stats.snapshot()["skipped"] == 37 - len(rights)
