"""What a tool hears from the running node set: a ROS session of its own and one collector.

:class:`RosSession` is the rclpy side of a tool process (its own Context in the given domain, one node, an
executor spun on a thread); :class:`Collector` subscribes on such a node to the pipeline's outputs and keeps
what arrives with its receive time, plus the latest ``/diagnostics`` values. ``dsc-demo`` measures through
them and the bag tests check through them, so both read the pipeline the same way.

ROS glue only: nothing of the codec is imported here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dsc_ros.wire import header_stamp_ns


class RosSession:
    """An rclpy Context of our own in ``domain_id``, one node on it, and an executor for a spinning thread.

    Why its own Context: a tool (or a test) that starts the node set in a chosen domain must not depend on,
    or disturb, the global rclpy state of its process. Spinning starts with :meth:`spin`, once every
    subscription and publisher exists, so none of their first callbacks race their setup.
    """

    def __init__(self, name: str, domain_id: int):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)

    def spin(self) -> None:
        """Start delivering callbacks (on a daemon thread)."""
        self._spinner.start()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        self.context.try_shutdown()


class Collector:
    """Subscribes to stamped topics and keeps, per key, ``{header stamp ns: (receive time, message)}``; with
    ``diagnostics`` also the latest key/values of every status on ``/diagnostics`` (the decoder's degraded
    count, drops).

    Receive times are ``time.monotonic()`` in this process, so they compare directly with a player's publish
    times (latency). Keyed by header stamp because the nodes keep the camera's stamp end to end: that stamp
    is what ties a decoded image to the frame it came from. Callbacks run on the session's spinning thread;
    read ``got`` under ``lock``.
    """

    def __init__(self, node, topics: dict | None = None, *, msg_type=None, qos=None, diagnostics: bool = True):
        from dsc_ros.tools.bags.player import make_qos

        topics = topics or {}
        self.lock = threading.Lock()
        self.got: dict = {k: {} for k in topics}
        self.latest: dict = {}  # diagnostics: status name -> {key: value}
        self.subs = []
        if topics:
            from sensor_msgs.msg import Image

            self.subs = [
                node.create_subscription(
                    msg_type or Image,
                    t,
                    lambda m, k=k: self._on_msg(k, m),
                    qos if qos is not None else make_qos("reliable", 50),
                )
                for k, t in topics.items()
            ]
        if diagnostics:
            from diagnostic_msgs.msg import DiagnosticArray

            node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)

    def _on_msg(self, key, msg) -> None:
        now = time.monotonic()
        with self.lock:
            self.got[key][header_stamp_ns(msg.header)] = (now, msg)

    def _on_diagnostics(self, arr) -> None:
        for st in arr.status:
            self.latest[st.name] = {kv.key: kv.value for kv in st.values}

    def has(self, key, stamp_ns: int) -> bool:
        with self.lock:
            return stamp_ns in self.got[key]

    def value(self, name_part: str, key: str):
        """``key`` of the first diagnostics status whose name contains ``name_part`` (a string), else None."""
        for name, vals in self.latest.items():
            if name_part in name and key in vals:
                return vals[key]
        return None

    @staticmethod
    def wait(pred: Callable[[], bool], timeout: float) -> bool:
        """Poll ``pred`` until it holds (True) or ``timeout`` s pass (then its last answer)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(0.02)
        return pred()
