"""dsc_ros.nodes.diagnostics: rolling statistics (bounded), and their DiagnosticStatus form."""

import math

import pytest

from dsc_ros.nodes import diagnostics  # noqa: E402
from dsc_ros.nodes.diagnostics import StreamStats, percentile  # noqa: E402
from ros_helpers import ros_available


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_percentile():
    assert math.isnan(percentile([], 50))
    assert percentile([3], 95) == 3
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(range(101), 95) == 95


def test_rates_and_latency_over_window():
    clk = Clock()
    s = StreamStats("left encode", window=10, clock=clk)
    for i in range(20):
        s.count_in()
        clk.t += 0.1  # 10 Hz
        s.record_out(nbytes=1000, pixels=100 * 80, codec_s=0.010 + 0.001 * (i % 10), node_s=0.05)
    d = s.snapshot()
    assert d["frames_in"] == 20 and d["frames_out"] == 20 and d["dropped"] == 0
    assert d["bits_per_frame"] == 8000
    assert d["bpp"] == pytest.approx(8000 / 8000)
    assert d["fps"] == pytest.approx(10.0)
    assert d["kbit_per_s"] == pytest.approx(80.0)
    assert d["latency_ms.median"] == pytest.approx(14.5)
    assert 18 <= d["latency_ms.p95"] <= 19
    assert d["node_latency_ms.median"] == pytest.approx(50.0)
    assert len(s._win) == 10  # bounded


def test_drops_by_reason_and_degraded():
    clk = Clock()
    s = StreamStats("right decode", clock=clk)
    s.count_drop("corrupt_code")
    s.count_drop("corrupt_code")
    s.count_drop("model_mismatch")
    s.count_degraded()
    s.count_degraded("side_info_mismatch")
    s.count_unpaired()
    s.count_skipped(3)
    d = s.snapshot()
    assert d["dropped"] == 3 and d["dropped.corrupt_code"] == 2 and d["dropped.model_mismatch"] == 1
    assert d["degraded"] == 2 and d["degraded.no_left"] == 1 and d["degraded.side_info_mismatch"] == 1
    assert d["unpaired"] == 1 and d["skipped"] == 3 and d["_recent_drop"] and d["_last_drop_reason"] == "model_mismatch"
    clk.t += 10
    assert not s.snapshot()["_recent_drop"]
    line = s.summary()
    assert "corrupt_code=2" in line and "degraded=2" in line and "unpaired=1" in line and "n/a" in line


@pytest.mark.skipif(ros_available() is not None, reason=str(ros_available()))
def test_to_status():
    s = StreamStats("left encode")
    st = diagnostics.to_status(s, "left_encoder", {"queue": 0})
    assert st.name == "dsc_ros/left_encoder: left encode" and st.hardware_id == "left_encoder"
    assert st.level == bytes([diagnostics.OK]) and st.message == "waiting for data"
    v = diagnostics.values_of(st)
    assert v["frames_in"] == "0" and v["bpp"] == "n/a" and v["queue"] == "0"
    s.count_drop("bad_step")
    st = diagnostics.to_status(s, "left_encoder")
    assert st.level == bytes([diagnostics.WARN]) and "bad_step" in st.message
    assert diagnostics.values_of(st)["dropped.bad_step"] == "1"
    from builtin_interfaces.msg import Time

    arr = diagnostics.to_array(Time(sec=3), [st])
    assert len(arr.status) == 1 and arr.header.stamp.sec == 3
