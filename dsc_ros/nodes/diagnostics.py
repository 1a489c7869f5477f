"""Rolling per-stream statistics -> diagnostic_msgs/DiagnosticArray (and a shutdown summary).

Why: a compression link is only trustworthy if its rate, latency and losses are visible where ROS users
look (``/diagnostics``, rqt_runtime_monitor) and every dropped frame has a named reason. The statistics
part (:class:`StreamStats`) is pure Python with bounded windows, so it is unit-testable and memory stays
flat on a node that runs for days; only :func:`to_status` / :func:`to_array` touch ROS message types.

Keys published per stream (all values are strings, as diagnostic_msgs requires):
``frames_in``, ``frames_out``, ``dropped``, ``dropped.<reason>``, ``degraded``, ``bits_per_frame``,
``bpp``, ``kbit_per_s``, ``fps``, ``latency_ms.median``, ``latency_ms.p95`` (the codec call: encode or
decode), ``node_latency_ms.median``, ``node_latency_ms.p95`` (message receipt to publish, incl. queueing).
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterable

OK, WARN, ERROR, STALE = 0, 1, 2, 3


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (q in [0, 100]) of a small sequence; nan when empty."""
    v = sorted(values)
    if not v:
        return float("nan")
    if len(v) == 1:
        return float(v[0])
    pos = (len(v) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return float(v[lo] + (v[hi] - v[lo]) * (pos - lo))


class StreamStats:
    """Counters (monotonic, since start) plus rolling windows of the last ``window`` frames.

    Thread-safe: the executor thread counts inputs and drops, the worker thread records outputs, the
    1 Hz timer reads a snapshot.
    """

    def __init__(self, name: str, window: int = 100, clock=time.monotonic):
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self.frames_in = 0
        self.frames_out = 0
        self.degraded = 0
        self.skipped = 0  # frames left out on purpose (throttle.max_rate_hz): not a fault, not a drop
        self.unpaired = 0  # published without their partner (a left whose right never came)
        self.dropped: collections.Counter = collections.Counter()
        self.degraded_by: collections.Counter = collections.Counter()  # why a right went without its left
        # (t_out, bytes, pixels, codec_s, node_s) of the last `window` outputs
        self._win: collections.deque[tuple[float, int, int, float, float]] = collections.deque(
            maxlen=max(2, int(window))
        )
        self._last_reason: str | None = None
        self._last_drop_t = float("-inf")

    def count_in(self, n: int = 1) -> None:
        with self._lock:
            self.frames_in += n

    def count_drop(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.dropped[reason] += n
            self._last_reason = reason
            self._last_drop_t = self._clock()

    def count_skipped(self, n: int = 1) -> None:
        with self._lock:
            self.skipped += n

    def count_degraded(self, reason: str = "no_left", n: int = 1) -> None:
        with self._lock:
            self.degraded += n
            self.degraded_by[reason] += n

    def count_unpaired(self, n: int = 1) -> None:
        with self._lock:
            self.unpaired += n

    def record_out(self, nbytes: int, pixels: int, codec_s: float, node_s: float | None = None) -> None:
        """One frame out: ``nbytes`` of code (the coded size, also for the decoder), ``pixels`` = H*W."""
        with self._lock:
            self.frames_out += 1
            self._win.append(
                (self._clock(), int(nbytes), int(pixels), float(codec_s), float(codec_s if node_s is None else node_s))
            )

    def snapshot(self) -> dict[str, object]:
        """A dict of numbers (floats may be nan when the window is empty)."""
        with self._lock:
            win = list(self._win)
            d: dict[str, object] = {
                "frames_in": self.frames_in,
                "frames_out": self.frames_out,
                "dropped": sum(self.dropped.values()),
                "degraded": self.degraded,
                "skipped": self.skipped,
                "unpaired": self.unpaired,
            }
            for k in sorted(self.dropped):
                d[f"dropped.{k}"] = self.dropped[k]
            for k in sorted(self.degraded_by):
                d[f"degraded.{k}"] = self.degraded_by[k]
            last_reason, last_drop_t = self._last_reason, self._last_drop_t
        nan = float("nan")
        if win:
            bits = [8 * b for _, b, _, _, _ in win]
            d["bits_per_frame"] = sum(bits) / len(bits)
            d["bpp"] = sum(bits) / max(1, sum(p for _, _, p, _, _ in win))
            d["latency_ms.median"] = 1e3 * percentile([c for *_, c, _ in win], 50)
            d["latency_ms.p95"] = 1e3 * percentile([c for *_, c, _ in win], 95)
            d["node_latency_ms.median"] = 1e3 * percentile([n for *_, n in win], 50)
            d["node_latency_ms.p95"] = 1e3 * percentile([n for *_, n in win], 95)
        else:
            for k in (
                "bits_per_frame",
                "bpp",
                "latency_ms.median",
                "latency_ms.p95",
                "node_latency_ms.median",
                "node_latency_ms.p95",
            ):
                d[k] = nan
        if len(win) >= 2 and win[-1][0] > win[0][0]:
            span = win[-1][0] - win[0][0]
            # n frames span n-1 intervals: rate over the intervals, bits of the frames after the first
            d["fps"] = (len(win) - 1) / span
            d["kbit_per_s"] = sum(8 * b for _, b, _, _, _ in win[1:]) / span / 1e3
        else:
            d["fps"] = nan
            d["kbit_per_s"] = nan
        d["_recent_drop"] = (self._clock() - last_drop_t) < 5.0
        d["_last_drop_reason"] = last_reason
        return d

    def summary(self) -> str:
        """One line for the shutdown log."""
        s = self.snapshot()
        drops = ", ".join(f"{k[8:]}={v}" for k, v in s.items() if k.startswith("dropped.")) or "none"
        return (
            f"{self.name}: in={s['frames_in']} out={s['frames_out']} degraded={s['degraded']} skipped={s['skipped']} "
            f"unpaired={s['unpaired']} "
            f"dropped={s['dropped']} ({drops}); bits/frame={_fmt(s['bits_per_frame'], 0)} "
            f"bpp={_fmt(s['bpp'], 4)} kbit/s={_fmt(s['kbit_per_s'], 1)} "
            f"latency ms median={_fmt(s['latency_ms.median'], 1)} p95={_fmt(s['latency_ms.p95'], 1)}"
        )


def _fmt(v, nd: int) -> str:
    if isinstance(v, float):
        if v != v:
            return "n/a"
        return f"{v:.{nd}f}"
    return str(v)


def to_status(stats: StreamStats, node_name: str, extra: dict[str, object] | None = None):
    """StreamStats -> diagnostic_msgs/DiagnosticStatus (level WARN while drops happened in the last 5 s)."""
    from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

    s = stats.snapshot()
    recent, reason = s.pop("_recent_drop"), s.pop("_last_drop_reason")
    if extra:
        s.update(extra)
    st = DiagnosticStatus()
    st.name = f"dsc_ros/{node_name}: {stats.name}"
    st.hardware_id = node_name
    if recent:
        st.level = bytes([WARN])
        st.message = f"dropping frames (last reason: {reason})"
    elif s["frames_out"] == 0:
        st.level = bytes([OK])
        st.message = "waiting for data"
    else:
        st.level = bytes([OK])
        st.message = "ok"
    st.values = [KeyValue(key=k, value=_fmt(v, 4) if isinstance(v, float) else str(v)) for k, v in s.items()]
    return st


def to_array(stamp, statuses: list):
    from diagnostic_msgs.msg import DiagnosticArray

    arr = DiagnosticArray()
    arr.header.stamp = stamp
    arr.status = list(statuses)
    return arr


def values_of(status) -> dict[str, str]:
    """DiagnosticStatus -> {key: value} (for tests and tools reading /diagnostics)."""
    return {kv.key: kv.value for kv in status.values}
