"""The rows of docs/bad_input.md that no other test covers: each bad input is counted under its reason, and
the nodes keep serving.

Pure Python first (the decoder node in-process with the stand-in codec of test_ros_node_logic), then ONE
real-process run over Fast DDS: the three nodes started once by ``dsc-launch`` (test/ros_helpers.py), and
in sequence a left and right of different sizes, duplicate and out-of-order stamps, a burst of 30 pairs at
once, a right that never gets its left and a left that never gets its right, each checked in /diagnostics,
and a good pair afterwards that still decodes. The doc itself is checked too: every counter a node can
produce has a row, and every test the table names exists.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

import ros_helpers as rh

pytestmark = pytest.mark.skipif(rh.ros_available() is not None, reason=str(rh.ros_available()))

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_input.md"


# ------------------------------------------------------------------------------------------- the doc
def _reasons_in_code() -> set:
    """Every counter key (``dropped.<reason>``) the nodes can produce, read from their source."""
    src = {p.name: p.read_text() for p in (ROOT / "dsc_ros").rglob("*.py")}
    conv = src["wire.py"]
    check = conv[conv.index("def check_image_msg") : conv.index("def image_to_numpy")]  # what the encoder counts
    reasons = set(re.findall(r'ImageConversionError\(\s*"(\w+)"', check))
    compressed = conv[conv.index("def parse_compressed_format") : conv.index("def rgb_to_encoding")]  # the decoder's
    reasons |= set(re.findall(r'ImageConversionError\(\s*"(\w+)"', compressed))  # CompressedImage left
    # dsc_core errors carry their counter key: each class's default and what a raise site names
    core = "".join((ROOT / "dsc_core" / f).read_text() for f in ("errors.py", "container.py", "codec.py"))
    reasons |= set(re.findall(r'^\s+reason = "(\w+)"', core, re.M)) | set(re.findall(r'reason="(\w+)"', core))
    for name in ("decoder.py", "encoder.py"):
        reasons |= set(re.findall(r'count_drop\("(\w+)"', src[name]))
        reasons |= set(re.findall(r'failure_reason\(e, "(\w+_error)"\)', src[name]))
    reasons |= {"duplicate", "sync_overflow"}  # decoder._count_sync_drops
    return reasons


def test_doc_has_a_row_for_every_counter_and_names_only_existing_tests():
    doc = DOC.read_text()
    reasons = _reasons_in_code()
    assert {"unsupported_encoding", "bad_step", "corrupt_code", "queue_overflow", "no_left"} <= reasons
    missing = sorted(r for r in reasons if f"dropped.{r}" not in doc)
    assert not missing, f"docs/bad_input.md has no row for the counters {missing}"
    refs = set(re.findall(r"`(test/[\w/]+\.py)::(\w+)`", doc))
    assert len(refs) >= 15
    for path, name in sorted(refs):
        text = (ROOT / path).read_text()
        assert re.search(rf"^(async )?def {name}\b", text, re.M), f"{path}::{name} named in the doc does not exist"


# ------------------------------------------------------------------------------------------- pure Python
from test_ros_node_logic import FakeCodec, code_msg, make_node, wait  # noqa: E402,F401  (fixture reused)


def _resealed(data: bytes, offset: int, value: int) -> bytes:
    import struct
    import zlib

    b = bytearray(data)
    b[offset] = value
    return bytes(b[:-4]) + struct.pack("<I", zlib.crc32(bytes(b[:-4])) & 0xFFFFFFFF)


def _msg(data: bytes, good: bytes, side: str, stamp_ns: int):
    """A StereoCode carrying ``data``; the descriptive fields come from ``good`` (``data`` may not parse)."""
    from std_msgs.msg import Header

    import dsc_core
    from dsc_ros.msg import StereoCode
    from dsc_ros.wire import code_to_msg

    h = Header(frame_id=f"cam_{side}")
    h.stamp.sec, h.stamp.nanosec = divmod(stamp_ns, 10**9)
    return code_to_msg(data, h, dsc_core.container.parse(good), StereoCode())


def test_code_of_another_container_version_is_counted_and_never_paired(make_node):
    d = make_node()
    good = d.fake._pack("right", 4, 6, "rgb8")
    d._on_code("right", _msg(_resealed(good, 4, 3), good, "right", 10**9))  # this build reads 1 and 2
    assert d.stats["right"].dropped["unsupported_version"] == 1
    assert d.sync.pending("right") == 0 and len(d._queue) == 0
    # and the node goes on: a good pair after it decodes
    d._on_code("left", code_msg(d.fake._pack, "left", 2 * 10**9))
    d._on_code("right", code_msg(d.fake._pack, "right", 2 * 10**9))
    assert wait(lambda: d.stats["right"].frames_out == 1 and d.stats["left"].frames_out == 1)


def test_code_claiming_a_huge_image_is_refused_before_the_queue(make_node):
    d = make_node()
    try:
        d._on_code("right", code_msg(d.fake._pack, "right", 10**9, h=16384, w=16384))
        assert d.stats["right"].dropped["too_large"] == 1
        assert d.sync.pending("right") == 0 and len(d._queue) == 0
    finally:  # the stand-in codec would allocate the 16384x16384 image at shutdown: forget the code
        d.sync._pending["right"].clear()


# ------------------------------------------------------------------------------------------- other floating point
def _index_map(codec, left_code: bytes):
    """The decoder's CDF-index map for a left code (what decode_left checks against the stored CRC)."""
    from dsc_core import container, entropy

    hdr, payloads = container.unpack(left_code)
    z_hat = entropy.bottleneck_decode(
        codec.level1.entropy_bottleneck, payloads[1], (1, codec.level1.N) + tuple(hdr.strings[1].shape[1:])
    )
    return entropy.scale_indexes(entropy.exact_hyper_params(codec.level1.h_s, z_hat)[0])


def test_perturbed_hyper_synthesis_is_refused_never_garbage(codec, small_pair):
    """A decoder whose hyper-synthesis differs from the encoder's by the smallest weight change that moves
    one CDF index (what another device's floating point can do) refuses the code with NonDeterminismError;
    it never decodes with the wrong CDFs."""
    import torch

    from dsc_core.codec import StereoCodec
    from dsc_core.errors import NonDeterminismError

    left, _ = small_pair
    code = codec.encode_left(left)
    other = StereoCodec("dsc-default", device="cpu")  # its own copy of the weights (not the cached codec)
    assert np.array_equal(other.decode_left(code), codec.decode_left(code))  # same weights: same image
    base = _index_map(other, code)
    w = other.level1.h_s[-1].weight  # last conv; output channel 0 is a scale channel
    changed = 0
    for delta in (1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0):
        with torch.no_grad():
            w[0, 0, 1, 1] += delta  # in place: bumps the version the float64 cache keys on
        changed = int((_index_map(other, code) != base).sum())
        if changed:
            break
        with torch.no_grad():
            w[0, 0, 1, 1] -= delta
    assert changed >= 1, "no perturbation moved an index"
    with pytest.raises(NonDeterminismError, match="Refusing to decode garbage"):
        other.decode_left(code)
    with pytest.raises(NonDeterminismError):
        other.decode_pair(code, codec.encode_right(small_pair[1]))
    print(f"perturbation {delta:g} moved {changed} of {base.numel()} indices: refused")


def _cuda_reason():
    try:
        import torch
    except Exception as e:  # pragma: no cover
        return f"torch not importable: {e}"
    if not torch.cuda.is_available():
        return (
            "no CUDA device here: CPU-encode -> CUDA-decode bit-exactness can only be checked on a GPU "
            "machine (this test runs there)"
        )
    return None


def test_cpu_encode_cuda_decode_is_bit_exact_or_refused(codec, motorcycle):
    """CPU-encoded codes decoded on CUDA (and CUDA-encoded on the CPU): the entropy-decoded symbols equal the
    encoder's exactly, or the decode is refused with NonDeterminismError; never silently different."""
    why = _cuda_reason()  # checked here, not at collection: no torch import while collecting
    if why:
        pytest.skip(why)
    import torch

    import dsc_core
    from dsc_core import container, images
    from dsc_core.errors import NonDeterminismError

    gpu = dsc_core.load_codec("dsc-default", device="cuda")
    L, R = motorcycle
    crops = [(0, 0, 375, 741), (100, 50, 128, 192), (7, 3, 65, 63), (200, 300, 1, 1), (0, 0, 500, 741)]
    outcome = {"exact": 0, "refused": 0}
    for enc, dec in ((codec, gpu), (gpu, codec)):
        for y, x, h, w in crops:
            img = np.ascontiguousarray(L[y : y + h, x : x + w])
            data = enc.encode_left(img)
            ref = enc.level1.compress(
                images.to_tensor(images.check_image(img, "rgb8"), enc.device), enc.info.default_left_rate
            )["symbols"]
            hdr, payloads = container.unpack(data)
            try:
                d = dec.level1.decompress(
                    payloads, [s.shape for s in hdr.strings], hdr.rate, [s.index_crc for s in hdr.strings]
                )
            except NonDeterminismError:
                outcome["refused"] += 1
                with pytest.raises(NonDeterminismError):
                    dec.decode_left(data)
                continue
            assert torch.equal(d["symbols"].cpu(), ref.cpu()), (enc.device, dec.device, h, w)
            outcome["exact"] += 1
            right = dec.decode_right(
                enc.encode_right(np.ascontiguousarray(R[y : y + h, x : x + w])),
                left=dec.decode_left(data, return_state=True),
            )
            assert right.shape == img.shape
    print(f"cross-device: {outcome}")
    assert outcome["exact"] >= 1  # refusing everything would be safe but useless


# ------------------------------------------------------------------------------------------- over Fast DDS
NS = "/dsc_bad"
LEFT_IN, RIGHT_IN = "/bad_cam/left/image_raw", "/bad_cam/right/image_raw"
H, W = 64, 128
TIMEOUT_MS = 2500.0
DEC_QUEUE = 2
DEC_L, DEC_R = "dsc_ros/decoder: left decode", "dsc_ros/decoder: right decode"


class Rig(rh.LaunchedRig):
    def __init__(self, tmp):
        import yaml
        from sensor_msgs.msg import Image

        from dsc_ros.msg import StereoCode

        cfg = rh.write_test_config(tmp, timeout_ms=TIMEOUT_MS)
        doc = yaml.safe_load(cfg.read_text())
        doc["/**/decoder"]["ros__parameters"]["queue_size"] = DEC_QUEUE  # a burst must overflow it
        cfg.write_text(yaml.safe_dump(doc))
        self._launch(cfg, tmp / "launch.log", "dsc_bad_input_test", NS, LEFT_IN, RIGHT_IN, 1_800_000_000 * 10**9)
        self.img_pub = {"left": self.tn.publisher(Image, LEFT_IN), "right": self.tn.publisher(Image, RIGHT_IN)}
        self.code_pub = {s: self.tn.publisher(StereoCode, f"{NS}/{s}/dsc_code", depth=100) for s in ("left", "right")}
        self.out = {s: self.tn.collect(Image, f"{NS}/{s}/image_decoded") for s in ("left", "right")}
        self.diag = rh.Diagnostics(self.tn)
        self._load_codec()
        self._wait_ready(
            list(self.img_pub.values()) + list(self.code_pub.values()), "a node's subscription never matched"
        )
        m = re.search(r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.decoder", self.proc.output())
        self.decoder_pid = int(m.group(1)) if m else None

    def stamps(self, side):
        return self.stamped(self.out[side])

    def wait_out(self, side, stamps, timeout=30.0) -> bool:
        return self.wait_stamps(self.out[side], stamps, timeout)

    def send_images(self, stamp, left, right):
        if left is not None:
            self.img_pub["left"].publish(rh.image_msg(left, "rgb8", stamp, "bad_left"))
        if right is not None:
            self.img_pub["right"].publish(rh.image_msg(right, "rgb8", stamp, "bad_right"))

    def send_code(self, side, data, stamp):
        from std_msgs.msg import Header

        import dsc_core
        from dsc_ros.msg import StereoCode
        from dsc_ros.wire import code_to_msg

        h = Header(frame_id=f"bad_{side}")
        h.stamp.sec, h.stamp.nanosec = divmod(int(stamp), 10**9)
        self.code_pub[side].publish(code_to_msg(data, h, dsc_core.container.parse(data), StereoCode()))

    def v(self, status, key) -> float:
        return self.diag.value(status, key)

    def rss_mb(self) -> float:
        if self.decoder_pid is None:
            return float("nan")
        for line in Path(f"/proc/{self.decoder_pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    r = Rig(tmp_path_factory.mktemp("bad_input"))
    try:
        for attempt in range(10):  # warm-up pair, re-sent until it comes out (DDS discovery complete)
            st = r.stamp()
            r.send_images(st, *rh.synthetic_pair(H, W, seed=500 + attempt))
            if r.wait_out("left", [st], 8) and r.wait_out("right", [st], 8):
                break
        else:
            raise RuntimeError("no decoded pair:\n" + r.proc.output()[-4000:])
        yield r
    finally:
        r.close()


def test_dds_left_and_right_of_different_sizes(rig):
    L, _ = rh.synthetic_pair(H // 2, W // 2, seed=1)
    _, R = rh.synthetic_pair(H, W, seed=1)
    before = rig.v(DEC_R, "degraded.side_info_mismatch")
    st = rig.stamp()
    rig.send_images(st, L, R)
    assert rig.wait_out("left", [st], 30) and rig.wait_out("right", [st], 30), rig.proc.output()[-3000:]
    assert rig.diag.wait_value(DEC_R, "degraded.side_info_mismatch", lambda v: v >= before + 1, 15)
    assert rig.proc.wait_output("[side_info_mismatch]", 1, 5)  # the log line names the problem
    assert rig.stamps("left")[st].height == H // 2
    # the right goes out at its own size, decoded without side information (bit-exact to the library's)
    np.testing.assert_array_equal(
        rh.image_array(rig.stamps("right")[st]), rig.codec.decode_right(rig.codec.encode_right(R), left=None)
    )


def test_dds_duplicate_and_out_of_order_stamps(rig):
    pairs = [rh.synthetic_pair(32, 64, seed=s) for s in (11, 12, 13, 14)]
    codes = [(rig.codec.encode_left(l), rig.codec.encode_right(r)) for l, r in pairs]
    t = [rig.stamp() for _ in codes]
    dup_l, dup_r = rig.v(DEC_L, "dropped.duplicate"), rig.v(DEC_R, "dropped.duplicate")
    for i in (2, 0, 1):  # out of order (one pair at a time: the decoder's queue holds only DEC_QUEUE pairs)
        rig.send_code("left", codes[i][0], t[i])
        rig.send_code("right", codes[i][1], t[i])
        assert rig.wait_out("right", [t[i]], 30), rig.proc.output()[-3000:]
    rig.send_code("left", codes[1][0], t[1])  # a left again, after its pair was made
    rig.send_code("right", codes[0][1], t[0])  # a right again
    rig.send_code("left", codes[3][0], t[3])
    rig.send_code("left", codes[3][0], t[3])  # twice while pending
    rig.send_code("right", codes[3][1], t[3])
    assert rig.wait_out("left", t, 30) and rig.wait_out("right", t, 30), rig.proc.output()[-3000:]
    assert rig.diag.wait_value(DEC_L, "dropped.duplicate", lambda v: v >= dup_l + 2, 10)
    assert rig.diag.wait_value(DEC_R, "dropped.duplicate", lambda v: v >= dup_r + 1, 10)
    outs_l, outs_r = rig.stamps("left"), rig.stamps("right")
    for i, (dl, dr) in enumerate(codes):  # every stamp got its own images, never a neighbour's
        state = rig.codec.decode_left(dl, return_state=True)
        np.testing.assert_array_equal(rh.image_array(outs_l[t[i]]), state.image)
        right = rig.codec.decode_right(dr, left=state)
        assert np.abs(rh.image_array(outs_r[t[i]]).astype(int) - right).max() <= 1, i
    with rig.tn.lock:  # exactly one output per stamp: the duplicates were not decoded a second time
        counts = [
            sum(1 for _, m in rig.out["left"] if (m.header.stamp.sec * 10**9 + m.header.stamp.nanosec) == s) for s in t
        ]
    assert counts == [1, 1, 1, 1]


def test_dds_burst_faster_than_the_decoder_is_bounded_counted_and_flat(rig):
    L, R = rh.synthetic_pair(192, 640, seed=21)  # ~10x the pixels of the other tests: slow to decode
    dl, dr = rig.codec.encode_left(L), rig.codec.encode_right(R)
    warm = [rig.stamp() for _ in range(2)]
    for st in warm:  # the first frames of a new size allocate the decoder's buffers: not a leak
        rig.send_code("left", dl, st)
        rig.send_code("right", dr, st)
        assert rig.wait_out("right", [st], 30)
    n = 30
    keys = ("frames_in", "frames_out", "dropped.queue_overflow", "dropped")
    assert rig.diag.wait_value(DEC_R, "frames_out", lambda v: v >= 1, 5)
    time.sleep(0.7)  # two diagnostics periods: the counters below include the warm-up frames
    before = {s: {k: rig.v(s, k) for k in keys} for s in (DEC_L, DEC_R)}
    rss0 = rig.rss_mb()
    stamps = [rig.stamp() for _ in range(n)]
    for st in stamps:
        rig.send_code("left", dl, st)
        rig.send_code("right", dr, st)
    assert rig.diag.wait_value(DEC_R, "frames_in", lambda v: v >= before[DEC_R]["frames_in"] + n, 30)

    def settled(s):  # every code of the burst is accounted for: decoded or dropped with a reason
        d_in = rig.v(s, "frames_in") - before[s]["frames_in"]
        d_out = rig.v(s, "frames_out") - before[s]["frames_out"]
        d_drop = rig.v(s, "dropped") - before[s]["dropped"]
        return d_in == n and d_out + d_drop == n

    end, qmax = time.monotonic() + 60, 0.0
    while time.monotonic() < end and not (settled(DEC_L) and settled(DEC_R)):
        qmax = max(qmax, rig.v(DEC_L, "queue"))
        time.sleep(0.1)
    for s in (DEC_L, DEC_R):
        assert settled(s), (s, {k: rig.v(s, k) for k in keys}, before[s])
        overflow = rig.v(s, "dropped.queue_overflow") - before[s]["dropped.queue_overflow"]
        assert overflow >= 1, f"{s}: a burst of {n} pairs into a queue of {DEC_QUEUE} must overflow"
        assert rig.v(s, "dropped") - before[s]["dropped"] == overflow  # nothing else was lost
    assert qmax <= DEC_QUEUE, f"work queue reported {qmax} items, bound {DEC_QUEUE}"
    assert stamps[-1] in rig.stamps("left") and stamps[-1] in rig.stamps("right")  # drop-OLDEST: newest kept
    rss1 = rig.rss_mb()
    print(
        f"burst of {n} pairs: decoded {rig.v(DEC_R, 'frames_out') - before[DEC_R]['frames_out']:.0f}, "
        f"queue_overflow {rig.v(DEC_R, 'dropped.queue_overflow') - before[DEC_R]['dropped.queue_overflow']:.0f} "
        f"per side, max queue {qmax:.0f}, decoder RSS {rss0:.0f} -> {rss1:.0f} MB"
    )
    assert rss1 - rss0 < 60, f"decoder RSS {rss0:.0f} -> {rss1:.0f} MB over a burst"


def test_dds_right_that_never_gets_a_left_and_left_that_never_gets_a_right(rig):
    L, R = rh.synthetic_pair(32, 64, seed=31)
    dl, dr = rig.codec.encode_left(L), rig.codec.encode_right(R)
    deg = rig.v(DEC_R, "degraded")
    t_r, t_l = rig.stamp(), rig.stamp()
    t0 = time.monotonic()
    rig.send_code("right", dr, t_r)
    rig.send_code("left", dl, t_l)
    assert rig.wait_out("right", [t_r], TIMEOUT_MS / 1e3 + 20) and rig.wait_out("left", [t_l], 20)
    assert time.monotonic() - t0 >= TIMEOUT_MS / 1e3 * 0.9  # both waited for their partner first
    assert rig.diag.wait_value(DEC_R, "degraded", lambda v: v >= deg + 1, 10)
    expect, info = rig.codec.decode_right(dr, left=None, return_info=True)
    assert info.degraded
    assert np.abs(rh.image_array(rig.stamps("right")[t_r]).astype(int) - expect).max() <= 1
    np.testing.assert_array_equal(rh.image_array(rig.stamps("left")[t_l]), rig.codec.decode_left(dl))
    assert t_l not in rig.stamps("right") and t_r not in rig.stamps("left")


def test_dds_zz_a_good_pair_afterwards_still_decodes(rig):
    st = rig.stamp()
    rig.send_images(st, *rh.synthetic_pair(H, W, seed=41))
    assert rig.wait_out("left", [st], 30) and rig.wait_out("right", [st], 30), rig.proc.output()[-3000:]
    assert rig.proc.popen.poll() is None and "process has died" not in rig.proc.output()
    assert "[internal_error]" not in rig.proc.output() and rig.v(DEC_R, "dropped.decode_error") == 0
