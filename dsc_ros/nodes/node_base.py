"""What the three nodes share: parameters, the codec, a worker thread, throttled problem logs, diagnostics.

Why a base: the encoders and the decoder differ only in what they subscribe to and which dsc_core call
they make. Everything that makes a node robust (codec loaded once before any subscription exists, a
bounded drop-oldest queue in front of a worker thread so the executor never blocks on the model, one
log line per problem kind per ``log_throttle_s``, 1 Hz ``/diagnostics``, a summary on shutdown, clean
exit on SIGINT/SIGTERM) lives here once.

The codec is imported lazily (``dsc_core`` imports torch on first use); this module itself never touches
torch, only numpy arrays and bytes go to dsc_core.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections.abc import Callable

import rclpy
from rclpy.node import Node

from dsc_ros.nodes import diagnostics, params, process
from dsc_ros.nodes.process import READY_MARKER
from dsc_ros.nodes.sync import DropOldestQueue


def _load_malloc_trim():
    """glibc's malloc_trim, or None (musl, macOS): gives the heap's free pages back to the kernel."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()
#: Seconds between two malloc_trim calls of a worker.
TRIM_PERIOD_S = 10.0
#: Seconds the ready line waits after the outputs' subscribers matched, for the other side of the match.
READY_SETTLE_S = 0.3


def failure_reason(exc: BaseException, otherwise: str) -> str:
    """The diagnostics counter key (``dropped.<reason>``) of a failed frame: the ``reason`` a dsc_core error
    or a wire conversion error carries (:class:`dsc_core.errors.DSCError`, ``wire.ImageConversionError``),
    else ``otherwise`` (an unexpected exception: ``encode_error``, ``decode_error``)."""
    from dsc_core.errors import DSCError  # pure Python, no torch
    from dsc_ros.wire import ImageConversionError

    return exc.reason if isinstance(exc, (DSCError, ImageConversionError)) else otherwise


class DscNode(Node):
    """Base of the encoder and decoder nodes (see module docstring)."""

    def __init__(self, kind: str, node_name: str | None = None, **kwargs):
        super().__init__(node_name or kind, **kwargs)
        self.kind = kind
        self.p: dict[str, object] = params.declare(self, params.params_for(kind))
        self._last_log: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._log_lock = threading.Lock()
        self.streams: list[diagnostics.StreamStats] = []
        self.codec = None
        self._queue: DropOldestQueue | None = None
        self._worker: threading.Thread | None = None
        self._closed = False
        from diagnostic_msgs.msg import DiagnosticArray

        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diag_timer = self.create_timer(float(self.p["diagnostics.period_s"]), self.publish_diagnostics)

    # ------------------------------------------------------------------ helpers for subclasses
    def qos(self, which: str):
        return params.qos_profile(self.p[f"qos.{which}.reliability"], self.p[f"qos.{which}.depth"])

    def new_stream(self, name: str) -> diagnostics.StreamStats:
        s = diagnostics.StreamStats(name, window=int(self.p["diagnostics.window"]))
        self.streams.append(s)
        return s

    def load_codec(self):
        """Load the model once (torch import + weights: seconds), before any subscription exists.

        In a promoted standby the codec is already in dsc_core's per-process cache, so this is instant."""
        t0 = time.monotonic()
        self.codec = _load_codec(str(self.p["model"]), str(self.p["device"]))
        dev = getattr(self.codec, "device", self.p["device"])
        self.get_logger().info(f"model {self.p['model']} loaded on {dev} in {time.monotonic() - t0:.1f} s")
        return self.codec

    def problem(self, reason: str, message: str) -> None:
        """Log a problem at most once per ``log_throttle_s`` per reason (the counter has every one)."""
        now = time.monotonic()
        with self._log_lock:
            last = self._last_log.get(reason, float("-inf"))
            if now - last < float(self.p["log_throttle_s"]):
                self._suppressed[reason] = self._suppressed.get(reason, 0) + 1
                return
            n = self._suppressed.pop(reason, 0)
            self._last_log[reason] = now
        more = f" ({n} more like this since the last report)" if n else ""
        self.get_logger().warning(f"[{reason}] {message}{more}")

    def start_worker(self, handle: Callable[[object], None], on_evict: Callable[[object], None]) -> None:
        """Start the worker thread consuming a bounded drop-oldest queue of ``queue_size`` items."""
        self._queue = DropOldestQueue(int(self.p["queue_size"]))
        self._on_evict = on_evict

        def loop():
            last_trim = time.monotonic()
            while not self._queue.closed or len(self._queue):
                item = self._queue.get(timeout=0.2)
                if item is None:
                    continue
                # Why trim: the executor thread allocates every incoming image (1.4 MB at KITTI size) and
                # the worker frees it, and torch's activations come and go in between; glibc keeps the
                # freed pages, so RSS creeps up with fragmentation (seen in the 10-minute soak) even though
                # nothing leaks. A trim every TRIM_PERIOD_S costs about a millisecond.
                if _MALLOC_TRIM is not None and time.monotonic() - last_trim >= TRIM_PERIOD_S:
                    _MALLOC_TRIM(0)
                    last_trim = time.monotonic()
                try:
                    handle(item)
                except Exception as e:  # never let one frame kill the worker
                    for stream in self.streams_of(item):
                        stream.count_drop("internal_error")
                    self.problem("internal_error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}")

        self._worker = threading.Thread(target=loop, name=f"{self.get_name()}-worker", daemon=True)
        self._worker.start()

    def streams_of(self, item) -> list[diagnostics.StreamStats]:
        """The streams a work item belongs to (where an unexpected failure on it is counted)."""
        return list(self.streams)

    def submit(self, item) -> None:
        evicted = self._queue.put(item)
        if evicted is not None:
            self._on_evict(evicted)

    def announce_ready(self, what: str, outputs=()) -> None:
        """Log the ready line once every publisher in ``outputs`` has matched a subscriber (or after
        ``ready.wait_for_subscribers_s``), without blocking the executor.

        Why wait: the launcher starts a bag player on this line, and with volatile durability a message
        published before discovery has matched its subscriber is lost, even with reliable QoS. A left
        encoder that announced "ready" while the decoder was still being discovered lost the bag's first
        left code (CI, stop 8). The extra ``READY_SETTLE_S`` lets the subscriber's side of the match finish
        too. A node with nobody listening (a decoder whose consumers start later) is still ready after the
        timeout, saying which outputs had no subscriber.
        """
        wait_s = float(self.p["ready.wait_for_subscribers_s"])
        outputs = list(outputs)
        if wait_s <= 0 or not outputs:
            self.get_logger().info(f"{READY_MARKER} ({what})")
            return
        deadline = time.monotonic() + wait_s
        matched_at = None

        def check():
            nonlocal matched_at
            now = time.monotonic()
            lonely = [p.topic_name for p in outputs if p.get_subscription_count() < 1]
            if not lonely and matched_at is None:
                matched_at = now
            settled = matched_at is not None and now - matched_at >= READY_SETTLE_S
            if not (settled or now >= deadline):
                return
            timer.cancel()
            self.destroy_timer(timer)
            note = "" if not lonely else f"; no subscriber yet on {', '.join(lonely)} after {wait_s:g} s"
            self.get_logger().info(f"{READY_MARKER} ({what}{note})")

        timer = self.create_timer(0.05, check)

    # ------------------------------------------------------------------ diagnostics and shutdown
    def extra_diagnostics(self, stream: diagnostics.StreamStats) -> dict[str, object]:
        return {}

    def publish_diagnostics(self) -> None:
        statuses = [diagnostics.to_status(s, self.get_name(), self.extra_diagnostics(s)) for s in self.streams]
        self._diag_pub.publish(diagnostics.to_array(self.get_clock().now().to_msg(), statuses))

    def close(self) -> None:
        """Stop the worker (finishing the item in hand) and log the summary. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._queue is not None:
            self._queue.close()
            if self._worker is not None:
                self._worker.join(timeout=5.0)
        for s in self.streams:
            line = "summary " + s.summary()
            try:
                self.get_logger().info(line)
            except Exception:
                print(f"[{self.get_name()}] {line}", file=sys.stderr)


def _load_codec(model: str, device: str):
    import warnings

    import dsc_core

    # dsc_core's TorchScript use warns on every start with torch >= 2.10; not actionable for a node user.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.* is deprecated", category=FutureWarning)
    return dsc_core.load_codec(model, device=device)


def stand_by(argv) -> bool:
    """Be a warm standby (``dsc-launch --standby``): load what is slow, say so, wait for ``go`` on stdin.

    Why: a node restarted from nothing spends ~1.5 s importing torch and loading the model before it can
    serve, which misses a 2-s recovery budget once discovery and the next frame are added. A standby has
    done all of that already, and its DDS participant is up and known to its peers (held by a hidden
    placeholder node with no topics of its own, see run_node), so when the launcher promotes it after the
    node died only the node itself remains to start, and its endpoints match at once.
    Returns True when told to go on and become the node; False when stdin closes (the launcher is gone) or
    on SIGINT/SIGTERM, and the process then exits 0.
    """
    import signal

    def leave(signum, frame):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, leave) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        t0 = time.monotonic()
        v = params.values_from_command_line(argv, ("model", "device"))
        try:
            _load_codec(str(v["model"]), str(v["device"]))
        except Exception as e:  # the node will say it properly when it starts with its real parameters
            print(f"[dsc_ros] standby could not preload model {v['model']!r}: {type(e).__name__}: {e}", flush=True)
        print(
            f"[dsc_ros] {process.STANDBY_MARKER}: model {v['model']} loaded in {time.monotonic() - t0:.1f} s; "
            "waiting to take over",
            flush=True,
        )
        return sys.stdin.readline().strip() == "go"
    except KeyboardInterrupt:
        return False
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _standby_placeholder() -> Node:
    """A hidden node that only keeps a standby's DDS participant alive (see run_node).

    Hidden (the leading underscore: not in ``ros2 node list`` without ``-a``), unique per process, with no
    rosout publisher and no parameter services; ``use_global_arguments=False`` so that the command line's
    ``__node:=``/``__ns:=`` remaps, meant for the real node, do not give it the real node's name.
    """
    import os

    return Node(
        f"_dsc_standby_{os.getpid()}", use_global_arguments=False, enable_rosout=False, start_parameter_services=False
    )


def run_node(factory: Callable[[], DscNode], argv=None) -> int:
    """rclpy init, build the node, spin until SIGINT/SIGTERM, close, shutdown. Returns the exit code.

    rclpy's own signal handler is off: it would shut the context down first, and the decoder could then
    no longer publish what is still in its queue. Here a signal only sets a flag; the node drains its
    worker and logs its summary while the context is still valid, then everything shuts down.
    """
    import os
    import signal

    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    standby = os.environ.pop(process.STANDBY_ENV, None) == "1"
    stop = threading.Event()

    def on_signal(signum, frame):
        if stop.is_set():  # second signal: leave now
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    process.use_fastdds_profile()  # before the participant exists; a user's own profile wins
    args = sys.argv if argv is None else list(argv)
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # A standby waits with its DDS participant up. rclpy.init alone does not create one: rmw_fastrtps makes
    # the participant with the process's first node and destroys it with the last. So the standby holds a
    # hidden placeholder node (see _standby_placeholder) until the real node exists. Its peers then know the
    # participant long before the promotion, and the new node's endpoints match in milliseconds instead of
    # waiting for participant discovery: a publisher created 5 s after rclpy.init matched its subscriber in
    # another process after 0.7-1.1 s without a node held, after 3 ms with one (test/soak/README.md).
    node = None
    rc = 0
    try:
        placeholder = _standby_placeholder() if standby else None
        if standby and not stand_by(args):
            return 0  # told to leave before it became the node; the finally below shuts rclpy down
        node = factory()
        if placeholder is not None:  # the real node holds the participant now
            placeholder.destroy_node()
            placeholder = None
        # Everything alive now (torch, the model, rclpy) lives as long as the process: move it out of the
        # garbage collector's reach. Fewer/shorter GC pauses while serving, and no multi-second final
        # collection of the model's objects at exit (measured 2-4 s on a loaded 2-core machine).
        gc.collect()
        gc.freeze()
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except KeyboardInterrupt:
        pass
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
        if node is not None:
            node.get_logger().fatal(msg)
        else:
            # A bad parameter or model name is a user error: the message says it; a traceback only for bugs.
            if not isinstance(e, (ValueError, FileNotFoundError)):
                traceback.print_exc()
            print(f"[dsc_ros] failed to start: {msg}", file=sys.stderr)
        rc = 1
    finally:
        try:
            if node is not None:
                node.close()
                node.destroy_node()
        except KeyboardInterrupt:
            pass
        finally:
            rclpy.try_shutdown()
            for s, h in old.items():
                signal.signal(s, h)
    return rc
