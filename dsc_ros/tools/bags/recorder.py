"""``dsc-record OUT --topics ...``: record topics to a ROS 2 mcap bag and measure their real bandwidth;
``dsc-decode-bag BAG --out DIR``: decode a recorded code bag offline.

Why a recorder of our own: ``ros2 bag`` is not on PyPI. rclpy's raw subscriptions (``raw=True``) hand over
the CDR bytes as they came off the wire, and ``rosbags`` writes them unchanged, so the bag is exactly
what crossed the network and the byte counts are the real payload bandwidth (CDR framing included, DDS/UDP
headers not).

Why an offline decoder: a bag of ``dsc_ros/msg/StereoCode`` messages must stay useful without ROS - it is
read with ``rosbags`` (the StereoCode definition travels inside the bag), left and right are paired by
header stamp, and ``dsc_core`` decodes them exactly as the decoder node would.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dsc_ros.tools import node_set
from dsc_ros.tools.bags import ros2_typestore
from dsc_ros.tools.interrupts import init_rclpy
from dsc_ros.wire import STEREO_CODE, encoding_to_rgb, header_stamp_ns, pair_stamps


def msg_class(msgtype: str):
    """``pkg/msg/Name`` -> the rclpy message class (``pkg.msg.Name``)."""
    pkg, _, name = msgtype.replace("/msg/", "/").partition("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), name)


@dataclass
class TopicStats:
    topic: str
    msgtype: str
    messages: int = 0
    nbytes: int = 0
    first: float | None = None  # wall clock (time.monotonic) of the first / last message
    last: float | None = None

    def add(self, n: int, now: float) -> None:
        self.messages += 1
        self.nbytes += n
        self.first = now if self.first is None else self.first
        self.last = now

    def rate(self, wall_s: float) -> float:
        """Bytes per second over the whole recording (what a link must carry on average)."""
        return self.nbytes / wall_s if wall_s > 0 else 0.0

    def active_rate(self) -> float:
        """Bytes per second between the first and the last message ((n-1) intervals carry n-1 messages)."""
        if self.messages < 2 or self.last <= self.first:
            return 0.0
        return self.nbytes * (self.messages - 1) / self.messages / (self.last - self.first)


class Recorder:
    """Raw subscriptions on ``topics`` of ``node`` -> a ROS 2 mcap bag at ``out``.

    ``types`` maps topic -> ``pkg/msg/Name``; topics not in it are resolved from the ROS graph
    (``poll()`` retries until their publishers appear). The bag timestamp is the receive time
    (``time.time_ns()``), as ``ros2 bag record`` does; the message headers keep the camera stamps.
    """

    def __init__(self, node, out, topics, types: dict | None = None, qos=None, storage: str = "mcap"):
        from rosbags.rosbag2 import StoragePlugin, Writer

        self.node = node
        self.out = Path(out)
        self.qos = qos if qos is not None else _default_qos()
        self.store = ros2_typestore()
        self.topics = [node.resolve_topic_name(t) for t in topics]
        self.types = {node.resolve_topic_name(k): v for k, v in (types or {}).items()}
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(self.out, version=9, storage_plugin=plugin)
        self.writer.open()
        self.lock = threading.Lock()
        self.stats: dict[str, TopicStats] = {}
        self.conns = {}
        self.subs = {}
        self.t_start = time.monotonic()
        self.t_stop = None
        self.closed = False
        self.poll()

    def poll(self) -> list:
        """Subscribe to the topics whose type is now known; returns the ones still waiting."""
        graph = dict(self.node.get_topic_names_and_types())
        waiting = []
        for t in self.topics:
            if t in self.subs:
                continue
            typ = self.types.get(t) or (graph.get(t) or [None])[0]
            if typ is None:
                waiting.append(t)
                continue
            if typ not in self.store.types:
                raise ValueError(f"{t}: type {typ} is unknown to the rosbags typestore; cannot write it")
            self.conns[t] = self.writer.add_connection(t, typ, typestore=self.store)
            self.stats[t] = TopicStats(t, typ)
            self.subs[t] = self.node.create_subscription(
                msg_class(typ), t, lambda data, t=t: self._on_msg(t, data), self.qos, raw=True
            )
        return waiting

    def _on_msg(self, topic: str, data: bytes) -> None:
        now = time.monotonic()
        with self.lock:
            if self.closed:
                return
            self.writer.write(self.conns[topic], time.time_ns(), data)
            self.stats[topic].add(len(data), now)

    @property
    def wall_s(self) -> float:
        return (self.t_stop or time.monotonic()) - self.t_start

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.t_stop = time.monotonic()
            for s in self.subs.values():
                self.node.destroy_subscription(s)
            self.writer.close()

    def table(self) -> str:
        """Per-topic bandwidth, plus the sum of all topics."""
        wall = self.wall_s
        rows = [("topic", "msgs", "bytes", "B/msg", "kB/s (wall)", "kB/s (active)")]
        for s in self.stats.values():
            rows.append(
                (
                    s.topic,
                    str(s.messages),
                    str(s.nbytes),
                    f"{s.nbytes / max(1, s.messages):.0f}",
                    f"{s.rate(wall) / 1e3:.2f}",
                    f"{s.active_rate() / 1e3:.2f}",
                )
            )
        tot_n = sum(s.messages for s in self.stats.values())
        tot_b = sum(s.nbytes for s in self.stats.values())
        rows.append(
            ("all", str(tot_n), str(tot_b), f"{tot_b / max(1, tot_n):.0f}", f"{tot_b / max(wall, 1e-9) / 1e3:.2f}", "")
        )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows
        ]
        return f"[dsc-record] {self.out}: {wall:.1f} s wall time\n" + "\n".join(lines)

    def summary(self) -> dict:
        wall = self.wall_s
        return {
            "bag": str(self.out),
            "wall_s": wall,
            "topics": {
                s.topic: {
                    "type": s.msgtype,
                    "messages": s.messages,
                    "bytes": s.nbytes,
                    "bytes_per_s": s.rate(wall),
                    "active_bytes_per_s": s.active_rate(),
                }
                for s in self.stats.values()
            },
        }


def _default_qos(profile: str = "reliable", depth: int = 100):
    from dsc_ros.tools.bags.player import make_qos

    return make_qos(profile, depth)


# ----------------------------------------------------------------------------------------- offline decoding
def read_codes(bag, slop_ms: float = 10.0) -> list:
    """The StereoCode messages of a bag, paired: ``[{"stamp_ns", "left": msg?, "right": msg?}, ...]``.

    Read with rosbags only (the definition travels in the bag; the repo's msg/ text is the fallback).
    Left and right pair by nearest header stamp within ``slop_ms`` (the decoder node's default slop).
    """
    from rosbags.highlevel import AnyReader

    sides: dict = {"left": {}, "right": {}}
    with AnyReader([Path(bag)], default_typestore=ros2_typestore()) as reader:
        conns = [c for c in reader.connections if c.msgtype == STEREO_CODE]
        if not conns:
            raise ValueError(f"{bag}: no {STEREO_CODE} topic (has: {', '.join(sorted(reader.topics))})")
        for conn, _, raw in reader.messages(connections=conns):
            msg = reader.deserialize(raw, conn.msgtype)
            sides["left" if msg.role == "left" else "right"][header_stamp_ns(msg.header)] = msg
    out = []
    for sl, sr in pair_stamps(sides["left"], sides["right"], int(slop_ms * 1e6)):
        entry = {"stamp_ns": sl if sl is not None else sr}
        if sl is not None:
            entry["left"] = sides["left"][sl]
        if sr is not None:
            entry["right"] = sides["right"][sr]
        out.append(entry)
    return out


def decode_bag(
    bag, out_dir, model: str | None = None, write_png: bool = True, limit: int | None = None, slop_ms: float = 10.0
) -> dict:
    """Decode every left/right code pair of ``bag`` into PNGs in ``out_dir``; returns a report.

    The model comes from the messages (the encoder's registry name) unless ``model`` overrides it. A right
    code without its left is decoded without side information (degraded) and counted as such; a lone left
    decodes normally. ``limit``: only the first N frames. Files: ``<stamp_ns>_left.png`` /
    ``<stamp_ns>_right.png`` (RGB or gray), each named by its own message's stamp.
    """
    import numpy as np

    import dsc_core

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {"bag": str(bag), "out": str(out), "pairs": 0, "left_only": 0, "right_only": 0, "frames": []}
    for p in read_codes(bag, slop_ms)[:limit]:
        entry = {"stamp_ns": p["stamp_ns"]}
        state = None
        if "left" in p:
            m = p["left"]
            codec = dsc_core.load_codec(model or m.model)
            state = codec.decode_left(np.asarray(m.data, dtype=np.uint8).tobytes(), return_state=True)
            entry["left"] = _save(out, header_stamp_ns(m.header), "left", state.image, m.encoding, write_png)
            entry["left_bytes"] = len(m.data)
        if "right" in p:
            m = p["right"]
            codec = dsc_core.load_codec(model or m.model)
            right, info = codec.decode_right(np.asarray(m.data, dtype=np.uint8).tobytes(), left=state, return_info=True)
            entry["right"] = _save(out, header_stamp_ns(m.header), "right", right, m.encoding, write_png)
            entry["right_bytes"] = len(m.data)
            entry["degraded"] = bool(info.degraded)
        key = "pairs" if "left" in p and "right" in p else ("left_only" if "left" in p else "right_only")
        report[key] += 1
        report["frames"].append(entry)
    return report


def _save(out: Path, stamp: int, side: str, img, encoding: str, write_png: bool) -> str:
    path = out / f"{stamp}_{side}.png"
    if write_png:
        from PIL import Image

        Image.fromarray(encoding_to_rgb(img, encoding)).save(path)
    return str(path)


# ----------------------------------------------------------------------------------------------- CLIs
def main(argv: list | None = None) -> int:
    import rclpy
    from rclpy.utilities import remove_ros_args

    argv = sys.argv if argv is None else [sys.argv[0], *argv]
    p = argparse.ArgumentParser(prog="dsc-record", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output ROS 2 bag directory (must not exist)")
    p.add_argument("--topics", nargs="+", default=["left/dsc_code", "right/dsc_code"])
    p.add_argument(
        "--type",
        action="append",
        default=[],
        metavar="TOPIC=TYPE",
        help="e.g. left/dsc_code=dsc_ros/msg/StereoCode (default: learnt from the ROS graph)",
    )
    p.add_argument("--duration", type=float, help="stop after SEC seconds (default: until Ctrl-C)")
    p.add_argument("--qos", choices=("reliable", "best_effort", "sensor_data"), default="reliable")
    p.add_argument("--qos-depth", type=int, default=100)
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--json", help="also write the bandwidth summary as JSON here")
    a = p.parse_args(remove_ros_args(argv)[1:])
    if Path(a.out).exists():
        print(f"dsc-record: {a.out} exists already, not overwriting", file=sys.stderr)
        return 2
    types = dict(t.split("=", 1) for t in a.type)
    node_set.use_fastdds_profile()
    init_rclpy(argv)  # Ctrl-C / SIGTERM: KeyboardInterrupt, the context valid until `finally` is done
    node = rclpy.create_node("dsc_bag_recorder")
    rec = None
    try:
        rec = Recorder(node, a.out, a.topics, types, _default_qos(a.qos, a.qos_depth), storage=a.storage)
        print(f"[dsc-record] recording {', '.join(rec.topics)} -> {a.out} (Ctrl-C to stop)", flush=True)
        end = time.monotonic() + a.duration if a.duration else None
        next_poll, announced = 0.0, False
        while end is None or time.monotonic() < end:
            if not announced and len(rec.subs) == len(rec.topics):
                print("[dsc-record] all topics subscribed", flush=True)
                announced = True
            rclpy.spin_once(node, timeout_sec=0.1)
            if time.monotonic() >= next_poll and len(rec.subs) < len(rec.topics):
                rec.poll()  # publishers not seen yet: their type comes from the graph once they appear
                next_poll = time.monotonic() + 0.5
    except KeyboardInterrupt:
        pass
    finally:
        if rec is not None:
            rec.close()
            print(rec.table(), flush=True)
            if a.json:
                Path(a.json).write_text(json.dumps(rec.summary(), indent=2))
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def decode_main(argv: list | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="dsc-decode-bag",
        description="Decode a bag of StereoCode messages offline (rosbags + dsc_core, no ROS needed) into PNGs.",
    )
    p.add_argument("bag")
    p.add_argument("--out", required=True, help="output folder for <stamp>_left.png / <stamp>_right.png")
    p.add_argument("--model", help="override the model named in the messages")
    a = p.parse_args(argv)
    rep = decode_bag(a.bag, a.out, model=a.model)
    degraded = sum(1 for f in rep["frames"] if f.get("degraded"))
    print(
        f"[dsc-decode-bag] {rep['pairs']} pairs, {rep['left_only']} left only, {rep['right_only']} right only "
        f"({degraded} right decoded without side information) -> {rep['out']}"
    )
    (Path(a.out) / "decode_report.json").write_text(json.dumps(rep, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
