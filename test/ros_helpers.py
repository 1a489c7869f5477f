"""Helpers for the ROS tests: an isolated DDS domain, node processes, an in-test rclpy node, test images.

Why: the ROS tests run real processes over real Fast DDS. Each pytest session picks a random
``ROS_DOMAIN_ID`` (``DSC_TEST_DOMAIN_ID`` overrides) and ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` so
parallel sessions and other machines never see each other; the in-test node uses its own rclpy Context
with that domain, so it does not depend on (or disturb) the global environment of the pytest process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dsc_ros.tools import node_set

ROOT = Path(__file__).resolve().parent.parent
DOMAIN_ID = int(os.environ.get("DSC_TEST_DOMAIN_ID") or random.SystemRandom().randint(30, 200))
# The test process publishes camera images like a camera driver, so it takes the pipeline's Fast DDS profile
# (config/fastdds_profile.xml: a short reliable heartbeat) as dsc_ros' own processes do; the nodes inherit it.
node_set.use_fastdds_profile()


def ros_available() -> str | None:
    """None if rclpy and the generated dsc_ros.msg import, else the reason (for pytest.skip)."""
    try:
        import rclpy  # noqa: F401

        from dsc_ros.msg import StereoCode  # noqa: F401
    except Exception as e:  # pragma: no cover
        return (
            f"ROS 2 runtime or dsc_ros.msg not importable ({type(e).__name__}: {e}); "
            "run scripts/setup.sh (or bash scripts/build_msgs.sh .venv)"
        )
    return None


def node_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for node processes: this session's domain, localhost discovery, the working tree first."""
    env = dict(os.environ)
    env["ROS_DOMAIN_ID"] = str(DOMAIN_ID)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env.pop("ROS_STATIC_PEERS", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    env.setdefault("OMP_NUM_THREADS", "1")  # 2 shared cores: three torch processes must not oversubscribe
    if extra:
        env.update(extra)
    return env


class Process:
    """A child process (a node or the launcher) whose output goes to a log file we can search."""

    def __init__(self, cmd: list[str], log_path: Path, env: dict[str, str] | None = None, nice: int = 5):
        self.cmd = cmd
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "wb")
        pre = ["nice", "-n", str(nice)] if nice else []
        self.popen = subprocess.Popen(
            pre + cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env or node_env(),
            cwd=str(ROOT),
            start_new_session=True,
        )

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_output(self, text: str, count: int = 1, timeout: float = 60.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.output().count(text) >= count:
                return True
            if self.popen.poll() is not None:
                return self.output().count(text) >= count
            time.sleep(0.1)
        return False

    def interrupt(self, timeout: float = 20.0) -> int | None:
        """SIGINT, wait; SIGKILL if it does not exit. Returns the exit code (None if it had to be killed)."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGINT)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        return self.popen.returncode

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)  # its own session: the launcher and its children
            except ProcessLookupError:
                pass
            self.popen.wait(10)

    def close(self) -> None:
        """Ctrl-C first, so a launcher stops its nodes (they run in their own sessions); then SIGKILL."""
        self.interrupt(timeout=20.0)
        self.kill()
        self._log.close()


class RosTestNode:
    """An rclpy node in the test process, spun on a background thread, in this session's domain."""

    def __init__(self, name: str = "dsc_test"):
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        self.ctx = Context()
        os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
        rclpy.init(context=self.ctx, domain_id=DOMAIN_ID, signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.ctx.ok():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception:
                if self._stop.is_set():
                    return
                raise

    def qos(self, depth: int = 50, reliable: bool = True):
        from dsc_ros.nodes.params import qos_profile

        return qos_profile("reliable" if reliable else "best_effort", depth)

    def publisher(self, msg_type, topic: str, depth: int = 50):
        return self.node.create_publisher(msg_type, topic, self.qos(depth))

    def collect(self, msg_type, topic: str, depth: int = 100) -> list:
        """Subscribe; every message lands (with its receipt time) in the returned list."""
        got: list = []

        def cb(m):
            with self.lock:
                got.append((time.monotonic(), m))

        self.node.create_subscription(msg_type, topic, cb, self.qos(depth))
        return got

    def wait_for(self, predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate():
                    return True
            time.sleep(step)
        with self.lock:
            return bool(predicate())

    def wait_matched(self, pub, n: int = 1, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pub.get_subscription_count() >= n:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        try:
            self.node.destroy_node()
        finally:
            self.ctx.try_shutdown()


class Diagnostics:
    """Keeps the latest values of every DiagnosticStatus seen on /diagnostics, by status name."""

    def __init__(self, tn: RosTestNode):
        from diagnostic_msgs.msg import DiagnosticArray

        self.tn = tn
        self.latest: dict[str, dict[str, str]] = {}
        self.levels: dict[str, int] = {}

        def cb(arr):
            with tn.lock:
                for st in arr.status:
                    self.latest[st.name] = {kv.key: kv.value for kv in st.values}
                    self.levels[st.name] = st.level[0] if isinstance(st.level, (bytes, bytearray)) else int(st.level)

        tn.node.create_subscription(DiagnosticArray, "/diagnostics", cb, tn.qos(100))

    def value(self, status: str, key: str, default: float = 0.0) -> float:
        with self.tn.lock:
            v = self.latest.get(status, {}).get(key)
        try:
            return float(v) if v is not None else default
        except ValueError:
            return default

    def wait_value(self, status: str, key: str, pred: Callable[[float], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred(self.value(status, key)):
                return True
            time.sleep(0.1)
        return pred(self.value(status, key))


# ---------------------------------------------------------------------------------------- test images
def synthetic_pair(h: int, w: int, seed: int, disparity: int = 6):
    """A KITTI-like rectified pair: smooth shading, edges and texture; right = left shifted by a disparity."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0 : w + disparity].astype(np.float32)
    base = 90 + 60 * np.sin(xx / (9 + 5 * rng.random())) * np.cos(yy / (7 + 4 * rng.random()))
    base += 40 * (yy / h)  # sky-to-road gradient
    for _ in range(6):  # a few "cars / buildings"
        y0, x0 = rng.integers(0, h // 2), rng.integers(0, w)
        base[y0 : y0 + rng.integers(8, h // 2), x0 : x0 + rng.integers(10, w // 4)] += rng.integers(-60, 60)
    img = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], -1) + rng.normal(0, 4, base.shape + (3,))
    img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img[:, disparity:]), np.ascontiguousarray(img[:, :w])


def to_encoding(rgb: np.ndarray, encoding: str) -> np.ndarray:
    if encoding == "rgb8":
        return rgb
    if encoding == "bgr8":
        return np.ascontiguousarray(rgb[:, :, ::-1])
    if encoding == "mono8":
        return np.ascontiguousarray(
            (rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().clip(0, 255).astype(np.uint8)
        )
    raise ValueError(encoding)


def image_msg(arr: np.ndarray, encoding: str, stamp_ns: int, frame_id: str, pad: int = 0):
    """sensor_msgs/Image with ``pad`` bytes of row padding (garbage 0xAB) to exercise ``step``."""
    import array

    from sensor_msgs.msg import Image

    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    rows = np.full((h, w * c + pad), 0xAB, np.uint8)
    rows[:, : w * c] = arr.reshape(h, w * c)
    m = Image()
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    m.header.frame_id = frame_id
    m.height, m.width, m.encoding, m.is_bigendian, m.step = h, w, encoding, 0, w * c + pad
    m.data = array.array("B", rows.tobytes())
    return m


def camera_info_msg(stamp_ns: int, frame_id: str, h: int, w: int, baseline_px: float = 0.0):
    from sensor_msgs.msg import CameraInfo

    m = CameraInfo()
    m.header.stamp.sec, m.header.stamp.nanosec = divmod(int(stamp_ns), 1_000_000_000)
    m.header.frame_id = frame_id
    m.height, m.width = h, w
    f = 0.6 * w
    m.distortion_model = "plumb_bob"
    m.d = [0.0] * 5
    m.k = [f, 0.0, w / 2, 0.0, f, h / 2, 0.0, 0.0, 1.0]
    m.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    m.p = [f, 0.0, w / 2, -baseline_px, 0.0, f, h / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return m


def write_test_config(folder: Path, timeout_ms: float = 2500.0) -> Path:
    """config/stereo_dsc.yaml with test overrides: queues that never overflow at test rates, faster
    /diagnostics, and a pairing timeout that survives a loaded 2-core machine (encoders run in parallel)."""
    import yaml

    doc = yaml.safe_load((ROOT / "config" / "stereo_dsc.yaml").read_text())
    for key, node in doc.items():
        p = node["ros__parameters"]
        p["queue_size"] = 16
        p["qos"]["input"]["depth"] = 50
        p["diagnostics"]["period_s"] = 0.3
        if key.endswith("decoder"):
            p["sync"]["timeout_ms"] = float(timeout_ms)
    path = Path(folder) / "stereo_dsc_test.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def image_array(msg):
    """The pixels of a received sensor_msgs/Image, through the nodes' own conversion."""
    from dsc_ros.wire import image_to_numpy

    return image_to_numpy(msg)[0]


class LaunchedRig:
    """The three real nodes under ``dsc-launch`` in namespace ``ns``, plus a test node and an in-test codec.

    What the DDS rigs of test_ros_pipeline and test_bad_input_matrix share: subclasses start the launcher
    (``_launch``), add their publishers and collectors, load the codec (``_load_codec``: one thread, like the
    nodes, see ``node_env``), then wait for the nodes (``_wait_ready``). ``close`` restores torch's threads.
    """

    def _launch(
        self, cfg: Path, log: Path, node_name: str, ns: str, left_in: str, right_in: str, stamp0_ns: int
    ) -> None:
        self.proc = Process(
            [
                sys.executable,
                "-m",
                "dsc_ros.tools.launcher",
                str(cfg),
                "--namespace",
                ns,
                "--left-topic",
                left_in,
                "--right-topic",
                right_in,
            ],
            log,
        )
        self.tn = RosTestNode(node_name)
        self._stamp = stamp0_ns

    def _load_codec(self) -> None:
        import torch

        import dsc_core

        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)
        self.codec = dsc_core.load_codec("dsc-default", device="cpu")

    def _wait_ready(self, publishers, what: str) -> None:
        from dsc_ros.tools.node_set import READY_MARKER

        if not self.proc.wait_output(READY_MARKER, 3, 180):
            raise RuntimeError("nodes not ready:\n" + self.proc.output()[-4000:])
        for p in publishers:
            assert self.tn.wait_matched(p, 1, 30), what

    def stamp(self) -> int:
        self._stamp += 100_000_000  # 10 Hz camera
        return self._stamp

    def stamped(self, collected) -> dict:
        """{stamp_ns: msg} of a ``tn.collect`` list."""
        from dsc_ros.wire import stamp_to_ns

        with self.tn.lock:
            return {stamp_to_ns(m.header.stamp): m for _, m in collected}

    def wait_stamps(self, collected, stamps, timeout: float = 30.0) -> bool:
        """True once every stamp in ``stamps`` is in the ``tn.collect`` list ``collected``."""
        from dsc_ros.wire import stamp_to_ns

        return self.tn.wait_for(lambda: set(stamps) <= {stamp_to_ns(m.header.stamp) for _, m in collected}, timeout)

    def close(self) -> None:
        import torch

        torch.set_num_threads(self._threads)
        try:
            self.tn.close()
        finally:
            self.proc.close()


def write_report(res: dict, out: Path | None) -> int:
    """Print the JSON summary of a soak/fault run, also to ``out``; exit code 0 when ``res['ok']``."""
    text = json.dumps(res, indent=1)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    return 0 if res.get("ok") else 1
