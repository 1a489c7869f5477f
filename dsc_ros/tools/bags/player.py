"""``dsc-play BAG``: replay a stereo bag into the pipeline's ``left/image_raw`` / ``right/image_raw``.

Why not ``ros2 bag play``: it is not available from PyPI, and the KITTI data people have is mostly ROS 1
``.bag`` files written by kitti2bag. ``rosbags.highlevel.AnyReader`` reads ROS 1 ``.bag`` and ROS 2 bags
(mcap, sqlite3) alike; rclpy publishes.

Zero conversion where possible: a ROS 2 bag already holds CDR bytes, and rclpy's ``publish()`` accepts
serialized bytes, so those go out untouched (headers, stamps, frame ids exactly as recorded). A ROS 1 message
is converted with ``ros1_to_cdr`` on the **ROS 2** typestore (on the reader's ROS 1 typestore it produces
garbage: ``SerdeError: Invalid string length``); that drops ``Header.seq`` and nothing else.

Timing: messages go out at their bag receive times (kitti2bag writes the camera stamp there), scaled by
``--rate`` (0.5 = half speed, ``inf`` = as fast as possible). Left and right of one frame share a
timestamp, so they leave back to back.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dsc_ros import wire
from dsc_ros.tools import node_set
from dsc_ros.tools.bags import ros2_typestore
from dsc_ros.tools.interrupts import init_rclpy
from dsc_ros.wire import CAMERA_INFO, IMAGE, absolute_topic, sibling_topic


class PlayerError(RuntimeError):
    """The bag cannot be played as a stereo pair (no such topic, wrong type, ...)."""


def detect_stereo_topics(
    topics: dict[str, str], left_in: str | None = None, right_in: str | None = None
) -> tuple[str, str]:
    """Pick the left/right image topics of a bag (``topics``: name -> msgtype).

    Explicit ``left_in``/``right_in`` win (both, each an Image topic of the bag); otherwise
    :func:`dsc_ros.wire.detect_stereo_topics` (the kitti2bag names and other common ones, else the image
    topics whose names say left and right).
    """
    if left_in or right_in:
        if not (left_in and right_in):
            raise PlayerError("give both --left-in and --right-in (or neither, to auto-detect)")
        for t in (left_in, right_in):
            if absolute_topic(t) not in topics:
                raise PlayerError(f"topic {t} is not in the bag; it has: {', '.join(sorted(topics))}")
            if topics[absolute_topic(t)] != IMAGE:
                raise PlayerError(f"topic {t} is a {topics[absolute_topic(t)]}, not a {IMAGE}")
        return absolute_topic(left_in), absolute_topic(right_in)
    try:
        return wire.detect_stereo_topics(t for t, typ in topics.items() if typ == IMAGE)
    except wire.TopicChoiceError as e:
        raise PlayerError(f"{e}; pass --left-in and --right-in") from None


@dataclass
class PlayStats:
    """What the player did; ``summary()`` is the line printed at exit."""

    frames: int = 0  # left images published (a stereo frame = one left + one right)
    messages: dict = field(default_factory=dict)  # output key -> count
    nbytes: dict = field(default_factory=dict)  # output key -> serialized bytes
    wall_s: float = 0.0
    max_late_s: float = 0.0  # worst lateness against the bag schedule (CPU or a gate held us back)
    interrupted: bool = False

    def add(self, key: str, n: int) -> None:
        self.messages[key] = self.messages.get(key, 0) + 1
        self.nbytes[key] = self.nbytes.get(key, 0) + n

    def summary(self) -> str:
        mb = sum(self.nbytes.values()) / 1e6
        fps = self.frames / self.wall_s if self.wall_s > 0 else 0.0
        per = ", ".join(f"{k}: {v}" for k, v in sorted(self.messages.items()))
        return (
            f"[dsc-play] {'interrupted after' if self.interrupted else 'published'} {self.frames} stereo frames "
            f"in {self.wall_s:.1f} s ({fps:.2f} frames/s, {mb / max(self.wall_s, 1e-9):.1f} MB/s; "
            f"{per}; worst lateness {self.max_late_s * 1e3:.0f} ms)"
        )


class BagSource:
    """An open bag reduced to what the player needs: (key, bag time ns, CDR bytes) in time order.

    ``key`` is ``left``, ``right``, ``left_info`` or ``right_info``. camera_info topics are the image
    topics' siblings (``.../camera_info``) when the bag has them.
    """

    def __init__(self, bag, left_in: str | None = None, right_in: str | None = None, camera_info: bool = True):
        from rosbags.highlevel import AnyReader

        self.path = Path(bag)
        if not self.path.exists():
            raise PlayerError(f"{bag}: no such bag")
        self.reader = AnyReader([self.path])
        try:
            self.reader.open()
        except Exception as e:  # AnyReaderError, a truncated file, a folder that is no bag
            raise PlayerError(f"{bag}: cannot read it as a ROS 1 or ROS 2 bag ({type(e).__name__}: {e})") from None
        self.is_ros2 = self.reader.is2
        topics = {t: info.msgtype for t, info in self.reader.topics.items()}
        left, right = detect_stereo_topics(topics, left_in, right_in)
        self.in_topics = {"left": left, "right": right}
        if camera_info:
            for side in ("left", "right"):
                info = sibling_topic(self.in_topics[side])
                if topics.get(info) == CAMERA_INFO:
                    self.in_topics[f"{side}_info"] = info
        by_topic = {t: k for k, t in self.in_topics.items()}
        self.key_of = {}  # connection id -> key
        self.conns = []
        for c in self.reader.connections:
            if c.topic in by_topic:
                self.key_of[id(c)] = by_topic[c.topic]
                self.conns.append(c)
        self.start_ns = self.reader.start_time
        self.end_ns = self.reader.end_time
        self.frame_count = sum(c.msgcount for c in self.conns if self.key_of[id(c)] == "left")
        self._ros2 = ros2_typestore()

    def close(self) -> None:
        self.reader.close()

    def describe(self) -> str:
        kind = "ROS 2" if self.is_ros2 else "ROS 1 (converted with ros1_to_cdr)"
        dur = (self.end_ns - self.start_ns) / 1e9
        return f"[dsc-play] {self.path} ({kind}): {self.frame_count} stereo frames over {dur:.1f} s; " + ", ".join(
            f"{k} <- {t}" for k, t in self.in_topics.items()
        )

    def messages(self, start_s: float = 0.0) -> Iterator[tuple[str, int, bytes]]:
        start = self.start_ns + int(start_s * 1e9) if start_s > 0 else None
        for conn, ts, raw in self.reader.messages(connections=self.conns, start=start):
            data = bytes(raw) if self.is_ros2 else bytes(self._ros2.ros1_to_cdr(raw, conn.msgtype))
            yield self.key_of[id(conn)], ts, data


def make_qos(profile: str = "reliable", depth: int = 10):
    """``reliable`` (default: large images arrive complete with Fast DDS' LARGE_DATA transport), ``best_effort``,
    or ``sensor_data`` (ROS' preset: best effort, volatile), as :func:`dsc_ros.wire.qos_policy` defines them.

    Durability stays the DDS default for the first two, as the player's publishers have always had it."""
    from dsc_ros.nodes.params import qos_profile

    return qos_profile(profile, depth, durability="system_default")


def make_publishers(
    node, left_topic: str = "left/image_raw", right_topic: str = "right/image_raw", qos=None, camera_info: bool = True
) -> dict:
    """Publishers keyed like ``BagSource`` keys; camera_info goes next to each image topic."""
    from sensor_msgs.msg import CameraInfo, Image

    qos = qos if qos is not None else make_qos()
    pubs = {
        "left": node.create_publisher(Image, left_topic, qos),
        "right": node.create_publisher(Image, right_topic, qos),
    }
    if camera_info:
        pubs["left_info"] = node.create_publisher(CameraInfo, sibling_topic(left_topic), qos)
        pubs["right_info"] = node.create_publisher(CameraInfo, sibling_topic(right_topic), qos)
    return pubs


def wait_for_subscribers(pubs: dict, minimum: int = 1, timeout_s: float = 10.0, settle_s: float = 0.3) -> bool:
    """Block until both image publishers see ``minimum`` subscribers (True) or ``timeout_s`` passes (False).

    Why: with volatile durability a message sent before discovery has matched is simply lost; the
    extra ``settle_s`` lets the subscriber side finish matching too.
    """
    if minimum <= 0 or timeout_s <= 0:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(pubs[k].get_subscription_count() >= minimum for k in ("left", "right")):
            time.sleep(settle_s)
            return True
        time.sleep(0.02)
    return False


def play(
    source: BagSource,
    pubs: dict,
    *,
    rate: float = 1.0,
    loop: bool = False,
    start_s: float = 0.0,
    max_frames: int | None = None,
    progress: bool = True,
    gate: Callable[[], None] | None = None,
    on_publish: Callable[[str, int, bytes], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    stats: PlayStats | None = None,
) -> PlayStats:
    """Publish the bag's stereo messages with their original spacing divided by ``rate``.

    ``gate()`` is called before each left image and may block (the demo uses it to keep at most N frames in
    flight so a slow CPU is not buried); the time it blocks shifts the schedule instead of causing a burst.
    ``on_publish(key, bag_ns, data)`` is called right after each publish (the demo timestamps there).
    ``max_frames`` stops before the left image of frame ``max_frames + 1`` (loops included).
    KeyboardInterrupt propagates; ``stats`` (pass your own to read it afterwards) is filled as we go.
    """
    if not rate > 0:
        raise PlayerError(f"--rate must be > 0 (got {rate}); use 'inf' for as fast as possible")
    stats = stats if stats is not None else PlayStats()
    bar = None
    if progress:
        from tqdm import tqdm

        total = None if loop else source.frame_count
        total = max_frames if max_frames is not None and (total is None or max_frames < total) else total
        bar = tqdm(total=total, unit="frame", desc="dsc-play", dynamic_ncols=True, file=sys.stderr)
    t_begin = time.monotonic()
    try:
        while True:
            wall0 = None
            bag0 = None
            for key, ts, data in source.messages(start_s):
                if should_stop is not None and should_stop():
                    return stats
                if key == "left" and max_frames is not None and stats.frames >= max_frames:
                    return stats
                if key == "left" and gate is not None:
                    g0 = time.monotonic()
                    gate()
                    if wall0 is not None:
                        wall0 += time.monotonic() - g0
                now = time.monotonic()
                if wall0 is None:
                    wall0, bag0 = now, ts
                if math.isfinite(rate):
                    target = wall0 + (ts - bag0) / 1e9 / rate
                    if target > now:
                        time.sleep(target - now)
                    else:
                        stats.max_late_s = max(stats.max_late_s, now - target)
                pubs[key].publish(data)
                stats.add(key, len(data))
                if on_publish is not None:
                    on_publish(key, ts, data)
                if key == "left":
                    stats.frames += 1
                    if bar is not None:
                        bar.update(1)
            if not loop or stats.frames == 0:
                return stats
    finally:
        stats.wall_s = time.monotonic() - t_begin
        if bar is not None:
            bar.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dsc-play",
        description=__doc__.split("\n\n")[0],
        epilog="ROS arguments go after --ros-args (e.g. --ros-args -r __ns:=/stereo).",
    )
    p.add_argument("bag", help="ROS 1 .bag (kitti2bag) or ROS 2 bag directory / .mcap / .db3")
    p.add_argument("--rate", type=float, default=1.0, help="speed factor (0.5 = half speed, inf = no waiting)")
    p.add_argument("--loop", action="store_true", help="start over at the end")
    p.add_argument("--start", type=float, default=0.0, metavar="SEC", help="skip the first SEC seconds of the bag")
    p.add_argument("--limit", type=int, metavar="N", help="stop after N stereo frames")
    p.add_argument("--left-topic", default="left/image_raw", help="output left image topic (camera_info beside it)")
    p.add_argument("--right-topic", default="right/image_raw", help="output right image topic")
    p.add_argument("--left-in", help="input left image topic in the bag (default: auto-detect)")
    p.add_argument("--right-in", help="input right image topic in the bag (default: auto-detect)")
    p.add_argument("--no-camera-info", action="store_true", help="do not publish camera_info")
    p.add_argument("--qos", choices=("reliable", "best_effort", "sensor_data"), default="reliable")
    p.add_argument("--qos-depth", type=int, default=10)
    p.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SEC",
        help="wait up to SEC for subscribers before playing (0: start at once); it ends as soon as "
        "they match. Discovery of a new process can miss its first announcements under load "
        "and then takes one 3 s announcement period more",
    )
    p.add_argument("--min-subscribers", type=int, default=1, help="how many subscribers --wait waits for")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    import rclpy
    from rclpy.utilities import remove_ros_args

    argv = sys.argv if argv is None else [sys.argv[0], *argv]
    args = build_parser().parse_args(remove_ros_args(argv)[1:])
    try:
        source = BagSource(args.bag, args.left_in, args.right_in, camera_info=not args.no_camera_info)
    except PlayerError as e:
        print(f"dsc-play: {e}", file=sys.stderr)
        return 2
    print(source.describe(), flush=True)
    node_set.use_fastdds_profile()  # the player is the camera here: its reliable writers need the short heartbeat
    init_rclpy(argv)  # Ctrl-C / SIGTERM: KeyboardInterrupt, the context valid until `finally` is done
    node = rclpy.create_node("dsc_bag_player")
    stats = PlayStats()
    try:
        pubs = make_publishers(
            node,
            args.left_topic,
            args.right_topic,
            make_qos(args.qos, args.qos_depth),
            camera_info=not args.no_camera_info,
        )
        if args.wait > 0 and args.min_subscribers > 0:
            print(
                f"[dsc-play] waiting up to {args.wait:g} s for {args.min_subscribers} subscriber(s) on "
                f"{pubs['left'].topic_name} and {pubs['right'].topic_name}",
                flush=True,
            )
        if not wait_for_subscribers(pubs, args.min_subscribers, args.wait):
            print(f"[dsc-play] no subscriber after {args.wait:.1f} s; playing anyway", flush=True)
        play(
            source,
            pubs,
            rate=args.rate,
            loop=args.loop,
            start_s=args.start,
            max_frames=args.limit,
            progress=not args.no_progress,
            stats=stats,
        )
        time.sleep(0.2)  # reliable QoS: give the last messages a moment to be acknowledged
    except KeyboardInterrupt:
        stats.interrupted = True
    except PlayerError as e:
        print(f"dsc-play: {e}", file=sys.stderr)
        return 2
    finally:
        print(stats.summary(), flush=True)
        source.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return 130 if stats.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
