"""``dsc-demo --out out/demo`` (``make demo``): the whole stereo pipeline on a KITTI-like bag, measured.

What happens, in order:

1. a short KITTI-like stereo bag (1242x375, 10 Hz, kitti2bag topic names, synthetic scenes) is generated
   once and cached under ``data/demo/`` (``--bag`` plays your own bag instead);
2. the three nodes start through ``dsc-launch`` (``dsc_ros.tools.launcher``: the same node set as
   ``ros2 launch``), in namespace ``/dsc``, and the demo waits until each says it is ready;
3. in this process: a recorder on ``/dsc/left/dsc_code`` + ``/dsc/right/dsc_code`` (a real mcap bag, real
   byte counts), a subscriber on ``/dsc/{left,right}/image_decoded``, and the bag player publishing the
   camera topics. Playback is *gated*: at most ``--in-flight`` frames are between camera and decoder, so a
   slow CPU (the codec takes ~0.3-1 s per image per node on 2 cores) is measured, not buried in queues;
   ``--rate`` plays on the bag's clock instead. ``--left-codec`` / ``--left-quality`` pick the left
   encoder's codec; ``--left-input compressed_image`` runs no left encoder: the demo publishes each left
   frame as the camera's own JPEG ``sensor_msgs/CompressedImage`` (``<left topic>/compressed``) and the
   decoder takes that as the left;
4. a table: raw vs coded bandwidth per stream and for the pair, bpp, PSNR / MS-SSIM of each stream against
   the frames in the bag, fps, latency camera-publish -> decoded image (median / p95), pairs decoded vs
   sent; ``summary.json``, ``pair_NNN.png`` (original | decoded, left above right) and the code bag go to
   ``--out``. Two recorded pairs are decoded again offline from the bag (``dsc-decode-bag``) and must
   match the decoder node's output bit for bit.

Environment: a random ``ROS_DOMAIN_ID`` unless one is set, ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``, and
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` (raw 1.4 MB images over Fast DDS' default transport crawl or get
lost; measured in docs/notes). ``OMP_NUM_THREADS=1`` per node: three torch processes share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from dsc_core.paths import data_root
from dsc_ros.tools import node_set
from dsc_ros.tools.bags import ros2_typestore
from dsc_ros.tools.collector import Collector, RosSession
from dsc_ros.wire import compressed_image_from_numpy, encoding_to_rgb, header_stamp_ns, image_from_msg, pair_stamps

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = data_root()
NAMESPACE = "dsc"
BAG_VERSION = 1  # bump when the synthetic bag's content changes, so stale caches are not reused


# ------------------------------------------------------------------------------------------- environment
def ros_environment(env: dict | None = None) -> dict:
    """The ROS/DDS settings the demo (and its children) run with; existing values win."""
    env = os.environ if env is None else env
    env.setdefault("ROS_DOMAIN_ID", str(random.SystemRandom().randint(30, 200)))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    node_set.use_fastdds_profile(env)
    return env


# ------------------------------------------------------------------------------------------------ steps
def demo_bag(frames: int, size: tuple, source: str, hz: float = 10.0, cache: Path = DATA_DIR / "demo") -> Path:
    """The cached synthetic bag (written atomically: a crash never leaves a half bag to be reused)."""
    from dsc_ros.tools.bags import synth_bag

    src = "shift" if source == "synthetic" and not synth_bag.have_synthetic() else source
    path = cache / f"kitti_like_{src}_{frames}f_{size[0]}x{size[1]}_{hz:g}hz_v{BAG_VERSION}"
    if (path / "metadata.yaml").is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp_{path.name}_{os.getpid()}"
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    synth_bag.write_synth_bag(tmp, frames=frames, size=size, hz=hz, source=src)
    if (path / "metadata.yaml").is_file():  # another demo won the race
        import shutil

        shutil.rmtree(tmp)
    else:
        os.replace(tmp, path)
    return path


def demo_config(
    out: Path,
    base: str | None,
    *,
    rate: int | None,
    model: str | None,
    device: str | None,
    sync_timeout_ms: float,
    left_codec: str | None = None,
    left_quality: int | None = None,
    left_input: str | None = None,
) -> Path:
    """config/stereo_dsc.yaml with the demo's overrides, written next to the results (so it is on record)."""
    import yaml

    base = base or node_set.default_config()
    cfg = yaml.safe_load(Path(base).read_text())
    for key, node in cfg.items():
        p = node.setdefault("ros__parameters", {})
        if model:
            p["model"] = model
        if device:
            p["device"] = device
        if "encoder" in key and rate is not None:
            p["rate"] = int(rate)
        if "left_encoder" in key and left_codec:
            p["left_codec"] = left_codec
        if "left_encoder" in key and left_quality is not None:
            p["left_quality"] = int(left_quality)
        if "decoder" in key and left_input:
            p["left_input"] = left_input
        if "decoder" in key:
            # Both encoders share 2 cores with the decoder: the right code can trail the left one by seconds.
            p.setdefault("sync", {})["timeout_ms"] = float(sync_timeout_ms)
    path = out / "stereo_dsc.demo.yaml"
    path.write_text(f"# written by dsc-demo from {base}\n" + yaml.safe_dump(cfg, sort_keys=False))
    return path


class Nodes:
    """The node set, started through ``python -m dsc_ros.tools.launcher`` (its output goes to ``log``)."""

    def __init__(
        self,
        config: Path,
        log: Path,
        env: dict,
        left_topic: str,
        right_topic: str,
        namespace: str = NAMESPACE,
        names=node_set.NODE_NAMES,
    ):
        self.log_path = log
        self._log = open(log, "wb")
        cmd = [
            sys.executable,
            "-m",
            "dsc_ros.tools.launcher",
            str(config),
            "--namespace",
            namespace,
            "--left-topic",
            left_topic,
            "--right-topic",
            right_topic,
            "--nodes",
            ",".join(names),
        ]
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT), start_new_session=True
        )  # our Ctrl-C reaches it once, from us

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, n: int, timeout: float) -> bool:
        from dsc_ros.tools.node_set import READY_MARKER

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.output().count(READY_MARKER) >= n:
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._log.close()
        return self.proc.returncode


def read_frames(source, limit: int, slop_ns: int) -> tuple[list, dict]:
    """The first ``limit`` stereo frames of the bag + {(key, bag time): frame index} for the player's callback.

    A frame is ``{"left": (array, encoding, stamp), "right": (...)}``; left and right pair by nearest stamp
    (KITTI's cameras are stamped separately, microseconds apart).
    """
    store = ros2_typestore()
    imgs: dict = {"left": {}, "right": {}}
    bag_ts: dict = {}
    last_left = None
    for key, ts, data in source.messages():
        if key not in imgs:
            continue
        if len(imgs["left"]) >= limit and (key == "left" or ts > last_left + slop_ns):
            break
        msg = store.deserialize_cdr(data, "sensor_msgs/msg/Image")
        s = header_stamp_ns(msg.header)
        imgs[key][s] = (image_from_msg(msg).copy(), msg.encoding, s)
        bag_ts[(key, ts)] = s
        if key == "left":
            last_left = ts
    frames = [
        {"left": imgs["left"][sl], "right": imgs["right"][sr]}
        for sl, sr in pair_stamps(imgs["left"], imgs["right"], slop_ns)
        if sl is not None and sr is not None
    ]
    index = {side: {f[side][2]: i for i, f in enumerate(frames)} for side in ("left", "right")}
    frame_of = {(k, ts): index[k][s] for (k, ts), s in bag_ts.items() if s in index[k]}
    return frames, frame_of


def camera_rate(frames: list, default: float) -> float:
    """The bag's camera rate from its left stamps (median spacing); ``default`` for a single frame."""
    stamps = [f["left"][2] for f in frames]
    gaps = [b - a for a, b in zip(stamps, stamps[1:]) if b > a]
    return round(1e9 / float(np.median(gaps)), 3) if gaps else default


def _pct(values, q):
    return float(np.percentile(values, q)) if len(values) else float("nan")


def _side_by_side(path: Path, frame: dict, decoded: dict, i: int) -> None:
    """Frame ``i``: original | decoded, left row above right row (RGB PNG)."""
    from PIL import Image

    rows = []
    for side in ("left", "right"):
        arr, enc, _ = frame[side]
        o = encoding_to_rgb(arr, enc)
        d = encoding_to_rgb(*decoded[side][i]) if i in decoded[side] else np.zeros_like(o)
        if o.ndim == 2:
            o, d = (np.repeat(x[..., None], 3, 2) for x in (o, d))
        rows.append(np.concatenate([o, np.full((o.shape[0], 4, 3), 255, np.uint8), d], axis=1))
    gap = np.full((4, rows[0].shape[1], 3), 255, np.uint8)
    Image.fromarray(np.concatenate([rows[0], gap, rows[1]], axis=0)).save(path)


# --------------------------------------------------------------------------------------------- the demo
class Demo:
    """One ``dsc-demo`` run, phase by phase: :meth:`start` (the node set, and our ROS session while it loads),
    :meth:`collect` (a recorder of the code topics and the :class:`~dsc_ros.tools.collector.Collector` of
    decoded images, armed before anything is played), :meth:`play` (the bag onto the camera topics, gated, and
    the wait for what is still in flight), :meth:`report` (metrics, table, files); :meth:`stop` ends whatever
    started.

    Why a class: the phases hand each other the frames and their stamps, the publish times, the collector and
    the code bag; as attributes they are named once, and each phase reads on its own. Constructing one only
    prepares (the output folder, the bag and its frames, the params file): nothing runs yet.
    """

    def __init__(self, args):
        from dsc_ros.tools.bags.player import BagSource, PlayStats

        self.args = args
        self.t_start = time.monotonic()
        self.out = Path(args.out).resolve()  # the nodes run with another working directory
        self.out.mkdir(parents=True, exist_ok=True)
        for old in list(self.out.glob("pair_*.png")) + list(self.out.glob("offline/*.png")):
            old.unlink()
        self.env = ros_environment()
        self.log = print if not args.quiet else (lambda *a, **k: None)
        self.bag = (
            Path(args.bag)
            if args.bag
            else demo_bag(
                args.frames, args.size, args.source, args.hz, Path(args.cache) if args.cache else DATA_DIR / "demo"
            )
        )
        self.source = BagSource(self.bag)
        self.log(
            f"[dsc-demo] bag: {self.bag} ({self.source.frame_count} stereo frames; playing "
            f"{min(args.frames, self.source.frame_count)})"
        )
        self.frames, self.frame_of = read_frames(self.source, args.frames, int(0.5e9 / args.hz))
        self.hz = camera_rate(self.frames, args.hz)
        if not self.frames:
            self.source.close()
            raise SystemExit(f"dsc-demo: {self.bag} has no stereo frames")
        self.left_in, self.right_in = node_set.DEFAULT_LEFT_TOPIC, node_set.DEFAULT_RIGHT_TOPIC
        self.ns = "/" + NAMESPACE
        self.compressed_left = args.left_input == "compressed_image"
        self.jpeg_quality = args.left_quality if args.left_quality is not None and args.left_quality >= 0 else 85
        self.config = demo_config(
            self.out,
            args.config,
            rate=args.code_rate,
            model=args.model,
            device=args.device,
            sync_timeout_ms=args.sync_timeout_ms,
            left_codec=args.left_codec,
            left_quality=args.left_quality,
            left_input=args.left_input,
        )
        # With the camera's own CompressedImage as the left there is no left encoder to run.
        self.names = tuple(n for n in node_set.NODE_NAMES if not (self.compressed_left and n == "left_encoder"))
        self.code_bag = self.out / "codes"
        # what the phases start and measure
        self.nodes: Nodes | None = None
        self.ros: RosSession | None = None
        self.rec = None
        self.coll: Collector | None = None
        self.jpeg_pub = None
        self.pub_times: dict = {"left": {}, "right": {}}  # side -> {frame index: time.monotonic() of publish}
        self.jpeg_bytes: dict = {}  # compressed left: {stamp: bytes of the CompressedImage stream}
        self.stats = PlayStats()
        self.t_ready = self.t_played = float("nan")
        self.degraded = None

    # ---------------------------------------------------------------------------------------------- start
    def start(self) -> None:
        """The node set through dsc-launch; returns once every node has said it is ready."""
        self.log(
            f"[dsc-demo] ROS_DOMAIN_ID={self.env['ROS_DOMAIN_ID']}; starting the nodes (dsc-launch "
            f"{self.config.name}); log: {self.out / 'nodes.log'}"
        )
        self.nodes = Nodes(
            self.config, self.out / "nodes.log", dict(self.env), self.left_in, self.right_in, names=self.names
        )
        # Our participant joins the domain while the nodes still load their model: discovery overlaps that wait.
        self.ros = RosSession("dsc_demo", int(self.env["ROS_DOMAIN_ID"]))
        if self.code_bag.exists():
            import shutil

            shutil.rmtree(self.code_bag)
        t0 = time.monotonic()
        if not self.nodes.wait_ready(len(self.names), self.args.ready_timeout):
            why = (
                "exited"
                if self.nodes.proc.poll() is not None
                else f"did not become ready in {self.args.ready_timeout:.0f} s"
            )
            raise SystemExit(f"dsc-demo: the nodes {why}; see {self.out / 'nodes.log'}:\n{self.nodes.output()[-3000:]}")
        self.t_ready = time.monotonic() - t0
        self.log(f"[dsc-demo] nodes ready after {self.t_ready:.1f} s")

    # -------------------------------------------------------------------------------------------- collect
    def collect(self) -> None:
        """Arm the listeners before anything plays, so no frame passes unseen: a recorder of both code topics
        (a real bag, real byte counts) and the collector of decoded images and decoder diagnostics."""
        from dsc_ros.tools.bags.recorder import Recorder

        node, ns = self.ros.node, self.ns
        code_type = "dsc_ros/msg/StereoCode"
        self.rec = Recorder(
            node,
            self.code_bag,
            [f"{ns}/left/dsc_code", f"{ns}/right/dsc_code"],
            types={f"{ns}/left/dsc_code": code_type, f"{ns}/right/dsc_code": code_type},
        )
        self.coll = Collector(node, {"left": f"{ns}/left/image_decoded", "right": f"{ns}/right/image_decoded"})

    # ----------------------------------------------------------------------------------------------- play
    def play(self) -> None:
        """The bag onto the camera topics once everything has matched, then the wait for the pairs in flight."""
        from dsc_ros.tools.bags.player import make_publishers, make_qos, play, wait_for_subscribers

        args, node, ns = self.args, self.ros.node, self.ns
        pubs = make_publishers(node, self.left_in, self.right_in, make_qos("reliable", 10))
        waited = pubs
        if self.compressed_left:
            from sensor_msgs.msg import CompressedImage

            self.jpeg_pub = node.create_publisher(
                CompressedImage, f"{self.left_in}/compressed", make_qos("reliable", 10)
            )
            waited = {"left": self.jpeg_pub, "right": pubs["right"]}
        self.ros.spin()
        if not wait_for_subscribers(waited, 1, 30.0):
            raise SystemExit("dsc-demo: the encoders did not subscribe to the camera topics within 30 s")
        # The decoded-image publishers must have matched us too, or the first pair is lost.
        self.coll.wait(
            lambda: all(
                node.count_publishers(t) >= 1 for t in (f"{ns}/left/image_decoded", f"{ns}/right/image_decoded")
            ),
            20.0,
        )
        time.sleep(0.5)
        self.log(
            f"[dsc-demo] playing {len(self.frames)} frames "
            + (f"at --rate {args.rate:g}" if args.rate else f"gated: at most {args.in_flight} in flight")
        )
        t_play = time.monotonic()
        play(
            self.source,
            pubs,
            rate=args.rate or float("inf"),
            max_frames=len(self.frames),
            progress=not args.quiet,
            gate=None if args.rate else self._gate,
            on_publish=self._on_publish,
            stats=self.stats,
        )
        sent = self.pairs_sent()
        self.coll.wait(lambda: all(self._decoded_both(i) for i in sent), args.frame_timeout)
        self.t_played = time.monotonic() - t_play
        time.sleep(0.3)
        self.rec.close()
        self.degraded = self.coll.value("right decode", "degraded")

    def pairs_sent(self) -> set:
        return set(self.pub_times["left"]) & set(self.pub_times["right"])

    def _on_publish(self, key, ts, data) -> None:
        i = self.frame_of.get((key, ts))
        if i is not None:
            self.pub_times[key].setdefault(i, time.monotonic())
        if self.compressed_left and key == "left" and i is not None:
            self._publish_jpeg(i)

    def _publish_jpeg(self, i: int) -> None:
        # The left camera's compressed_image_transport: its JPEG of the frame, same stamp as the image.
        from sensor_msgs.msg import CompressedImage
        from std_msgs.msg import Header

        arr, enc, stamp = self.frames[i]["left"]
        h = Header(frame_id="left")
        h.stamp.sec, h.stamp.nanosec = divmod(int(stamp), 10**9)
        msg = compressed_image_from_numpy(arr, enc, CompressedImage(), h, "jpeg", self.jpeg_quality)
        self.jpeg_bytes[stamp] = len(msg.data)
        self.jpeg_pub.publish(msg)

    def _decoded_both(self, i: int) -> bool:
        return all(self.coll.has(k, self.frames[i][k][2]) for k in ("left", "right"))

    def _gate(self) -> None:
        # At most --in-flight frames published but not yet decoded (both sides); a frame that has not come back
        # after --frame-timeout is given up (it will count as lost), so it blocks no longer.
        while True:
            now = time.monotonic()
            pending = [
                i
                for i, t in self.pub_times["left"].items()
                if now - t < self.args.frame_timeout and not self._decoded_both(i)
            ]
            if len(pending) < self.args.in_flight:
                return
            time.sleep(0.01)

    def stop(self) -> None:
        """End whatever started, the listeners first: recorder, ROS session, node set, bag reader."""
        if self.rec is not None:
            self.rec.close()
        if self.ros is not None:
            self.ros.close()
        if self.nodes is not None:
            self.nodes.stop()
        self.source.close()

    # --------------------------------------------------------------------------------------------- report
    def report(self) -> dict:
        """Figures against the frames in the bag, then the table (printed, summary.txt), summary.json, the PNGs
        and the offline check. Quality and bpp come from dsc_core's public API, as ``dsc eval`` measures."""
        args, frames = self.args, self.frames
        decoded, recv_t = self._received()
        codes = self._code_sizes()
        h, w = frames[0]["left"][0].shape[:2]
        streams = {side: self._stream(side, decoded[side], recv_t[side], codes[side], (h, w)) for side in decoded}
        sent = self.pairs_sent()
        pairs_done = sorted(i for i in sent if i in decoded["left"] and i in decoded["right"])
        pub_times = self.pub_times
        pair_lat = [
            max(recv_t["left"][i], recv_t["right"][i]) - min(pub_times["left"][i], pub_times["right"][i])
            for i in pairs_done
        ]
        pair = {
            k: streams["left"][k] + streams["right"][k]
            for k in ("raw_kBps_at_camera_rate", "coded_kBps_at_camera_rate", "coded_kBps_measured", "bpp")
        }
        pair["compression_ratio"] = pair["raw_kBps_at_camera_rate"] / pair["coded_kBps_at_camera_rate"]
        pair["latency_median_s"], pair["latency_p95_s"] = _pct(pair_lat, 50), _pct(pair_lat, 95)
        # Output rate: n completed pairs span n-1 intervals (first to last completion).
        done_t = sorted(max(recv_t["left"][i], recv_t["right"][i]) for i in pairs_done)
        fps = (
            (len(done_t) - 1) / (done_t[-1] - done_t[0])
            if len(done_t) > 1 and done_t[-1] > done_t[0]
            else len(done_t) / self.t_played
            if self.t_played > 0
            else 0.0
        )

        out = self.out
        for i in pairs_done:
            _side_by_side(out / f"pair_{i:03d}.png", frames[i], decoded, i)
        offline = None
        if args.offline_check and not self.compressed_left:  # the code bag holds no left codes to decode from
            offline = offline_check(self.code_bag, out / "offline", frames, decoded, args.offline_check)

        degraded = self.degraded
        summary = {
            "bag": str(self.bag),
            "frames": len(frames),
            "size": [h, w],
            "camera_hz": self.hz,
            "encoding": frames[0]["left"][1],
            "model": args.model or "config default",
            "code_rate": args.code_rate,
            "left_input": args.left_input,
            "left_codec": None if self.compressed_left else (args.left_codec or "config default"),
            "left_quality": self.jpeg_quality if self.compressed_left else args.left_quality,
            "playback": f"rate {args.rate:g}" if args.rate else f"gated, {args.in_flight} in flight",
            "ros_domain_id": int(self.env["ROS_DOMAIN_ID"]),
            "pairs_sent": len(sent),
            "pairs_decoded": len(pairs_done),
            "right_degraded": int(float(degraded)) if degraded not in (None, "") else None,
            "fps_decoded_pairs": fps,
            "streams": streams,
            "pair": pair,
            "offline_check": offline,
            "nodes_ready_s": self.t_ready,
            "playback_s": self.t_played,
            "wall_s": time.monotonic() - self.t_start,
            "recorder": self.rec.summary(),
            "code_bag": str(self.code_bag),
            "pngs": sorted(str(p) for p in out.glob("pair_*.png")),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))
        table = format_table(summary)
        (out / "summary.txt").write_text(table + "\n")
        print(table)
        return summary

    def _received(self) -> tuple[dict, dict]:
        """What the collector got for each frame: side -> {frame index: (array, encoding)} and the receive times."""
        decoded: dict = {"left": {}, "right": {}}
        recv_t: dict = {"left": {}, "right": {}}
        with self.coll.lock:
            for side in ("left", "right"):
                for i, f in enumerate(self.frames):
                    hit = self.coll.got[side].get(f[side][2])
                    if hit is not None:
                        recv_t[side][i] = hit[0]
                        decoded[side][i] = (image_from_msg(hit[1]).copy(), hit[1].encoding)
        return decoded, recv_t

    def _code_sizes(self) -> dict:
        """side -> {stamp: container bytes}, read back from the code bag (the left: the JPEG stream, if that)."""
        from dsc_ros.tools.bags.recorder import read_codes

        codes: dict = {side: {} for side in ("left", "right")}
        for p in read_codes(self.code_bag):
            for side in ("left", "right"):
                if side in p:
                    codes[side][header_stamp_ns(p[side].header)] = len(p[side].data)
        if self.compressed_left:
            codes["left"] = dict(self.jpeg_bytes)
        return codes

    def _stream(self, side: str, decoded: dict, recv_t: dict, codes: dict, hw: tuple) -> dict:
        """One camera link's figures: bandwidth raw vs coded, bpp, quality, latency, frames."""
        import dsc_core  # the public API only (quality and bpp of the decoded frames), never its internals

        pub_times = self.pub_times[side]
        q: dict = {"psnr": [], "ms_ssim": [], "latency_s": [], "code_bytes": []}
        for i, f in enumerate(self.frames):
            arr, enc, s = f[side]
            if i in decoded:
                m = dsc_core.quality(encoding_to_rgb(arr, enc), encoding_to_rgb(*decoded[i]))
                q["psnr"].append(float(m["psnr"]))
                q["ms_ssim"].append(float(m["ms_ssim"]))
            if i in recv_t and i in pub_times:
                q["latency_s"].append(recv_t[i] - pub_times[i])
            if s in codes:
                q["code_bytes"].append(codes[s])
        ts = self.rec.stats.get(f"{self.ns}/{side}/dsc_code")
        raw_msg = self.stats.nbytes.get(side, 0) / max(1, self.stats.messages.get(side, 1))
        code_msg = ts.nbytes / ts.messages if ts and ts.messages else float("nan")
        if self.compressed_left and side == "left":  # the left link carries the camera's JPEG stream
            code_msg = float(np.mean(q["code_bytes"])) if q["code_bytes"] else float("nan")
        code_bytes = float(np.mean(q["code_bytes"])) if q["code_bytes"] else float("nan")
        bpp = float(np.mean([dsc_core.bpp(n, hw) for n in q["code_bytes"]])) if q["code_bytes"] else float("nan")
        hz = self.hz
        return {
            "frames_sent": len(pub_times),
            "frames_decoded": len(decoded),
            "raw_bytes_per_frame": raw_msg,
            "code_bytes_per_frame": code_bytes,
            "code_msg_bytes_per_frame": code_msg,
            "raw_kBps_at_camera_rate": raw_msg * hz / 1e3,
            "coded_kBps_at_camera_rate": code_msg * hz / 1e3,
            "coded_kBps_measured": (ts.rate(self.rec.wall_s) / 1e3) if ts else float("nan"),
            "compression_ratio": raw_msg / code_msg if code_msg == code_msg and code_msg > 0 else float("nan"),
            "bpp": bpp,
            "psnr_db": float(np.mean(q["psnr"])) if q["psnr"] else float("nan"),
            "ms_ssim": float(np.mean(q["ms_ssim"])) if q["ms_ssim"] else None,
            "latency_median_s": _pct(q["latency_s"], 50),
            "latency_p95_s": _pct(q["latency_s"], 95),
            "latency_s": [round(x, 4) for x in q["latency_s"]],
            "psnr_db_per_frame": [round(x, 3) for x in q["psnr"]],
        }


def run(args) -> dict:
    """The whole demo: start, collect, play, report (see :class:`Demo`); returns the summary."""
    demo = Demo(args)
    try:
        demo.start()
        demo.collect()
        demo.play()
    finally:
        demo.stop()
    return demo.report()


def offline_check(code_bag: Path, out: Path, frames: list, decoded: dict, n: int) -> dict:
    """Decode the first ``n`` recorded pairs from the bag alone; compare with what the decoder node published."""
    from PIL import Image

    from dsc_ros.tools.bags.recorder import decode_bag

    index = {side: {f[side][2]: i for i, f in enumerate(frames)} for side in ("left", "right")}
    rep = decode_bag(code_bag, out, limit=n)
    same = checked = 0
    for f in rep["frames"]:
        for side in ("left", "right"):
            if side not in f:
                continue
            stamp = int(Path(f[side]).stem.split("_")[0])
            i = index[side].get(stamp)
            if i in decoded[side]:
                checked += 1
                same += int(np.array_equal(np.asarray(Image.open(f[side])), encoding_to_rgb(*decoded[side][i])))
    return {"images_checked": checked, "bit_identical": same, "out": str(out)}


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def _f(v, fmt):
    return "n/a" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)


def format_table(s: dict) -> str:
    L, R, P = s["streams"]["left"], s["streams"]["right"], s["pair"]
    h, w = s["size"]
    rows = [
        ("", "left", "right", "pair"),
        (
            f"raw kB/s at {s['camera_hz']:g} Hz",
            _f(L["raw_kBps_at_camera_rate"], ".0f"),
            _f(R["raw_kBps_at_camera_rate"], ".0f"),
            _f(P["raw_kBps_at_camera_rate"], ".0f"),
        ),
        (
            f"coded kB/s at {s['camera_hz']:g} Hz",
            _f(L["coded_kBps_at_camera_rate"], ".1f"),
            _f(R["coded_kBps_at_camera_rate"], ".1f"),
            _f(P["coded_kBps_at_camera_rate"], ".1f"),
        ),
        (
            "coded kB/s measured (demo pace)",
            _f(L["coded_kBps_measured"], ".2f"),
            _f(R["coded_kBps_measured"], ".2f"),
            _f(P["coded_kBps_measured"], ".2f"),
        ),
        (
            "compression ratio",
            _f(L["compression_ratio"], ".0f"),
            _f(R["compression_ratio"], ".0f"),
            _f(P["compression_ratio"], ".0f"),
        ),
        ("bpp", _f(L["bpp"], ".4f"), _f(R["bpp"], ".4f"), _f(P["bpp"], ".4f")),
        ("PSNR dB", _f(L["psnr_db"], ".2f"), _f(R["psnr_db"], ".2f"), ""),
        ("MS-SSIM", _f(L["ms_ssim"], ".4f"), _f(R["ms_ssim"], ".4f"), ""),
        (
            "latency median s",
            _f(L["latency_median_s"], ".2f"),
            _f(R["latency_median_s"], ".2f"),
            _f(P["latency_median_s"], ".2f"),
        ),
        ("latency p95 s", _f(L["latency_p95_s"], ".2f"), _f(R["latency_p95_s"], ".2f"), _f(P["latency_p95_s"], ".2f")),
        (
            "frames decoded / sent",
            f"{L['frames_decoded']}/{L['frames_sent']}",
            f"{R['frames_decoded']}/{R['frames_sent']}",
            f"{s['pairs_decoded']}/{s['pairs_sent']}",
        ),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(c.ljust(wd) if i == 0 else c.rjust(wd) for i, (c, wd) in enumerate(zip(r, widths))) for r in rows
    ]
    off = s.get("offline_check")
    foot = [
        f"[dsc-demo] {s['frames']} frames {w}x{h} {s['encoding']} from {s['bag']}; model {s['model']}, "
        f"code rate {s['code_rate'] if s['code_rate'] is not None else 'default'}; playback {s['playback']}",
        f"[dsc-demo] {s['fps_decoded_pairs']:.2f} decoded pairs/s; right decoded without side information: "
        f"{_f(s['right_degraded'], 'd')}; nodes ready in {s['nodes_ready_s']:.1f} s; total {s['wall_s']:.1f} s",
    ]
    if s.get("left_input") == "compressed_image":
        foot.append(
            f"[dsc-demo] left stream: the camera's JPEG CompressedImage (quality {s['left_quality']}), "
            "no left encoder; the decoder uses it as side information"
        )
    elif s.get("left_codec") not in (None, "config default", "level1"):
        q = s.get("left_quality")
        foot.append(f"[dsc-demo] left codec {s['left_codec']}, quality {q if q is not None and q >= 0 else 'default'}")
    if off:
        foot.append(
            f"[dsc-demo] offline decode of the code bag: {off['bit_identical']}/{off['images_checked']} "
            "images bit-identical to the decoder node's output"
        )
    return "\n".join(["[dsc-demo] results"] + lines + foot)


def build_parser() -> argparse.ArgumentParser:
    from dsc_ros.tools.bags.synth_bag import SOURCES, parse_size

    p = argparse.ArgumentParser(prog="dsc-demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="out/demo", help="results folder (summary.json, pair_NNN.png, codes/)")
    p.add_argument("--bag", help="play this bag instead of the generated one (ROS 1 .bag or ROS 2)")
    p.add_argument("--frames", type=int, default=12, help="stereo frames to play (generated bag: its length)")
    p.add_argument("--size", type=parse_size, default=(375, 1242), metavar="HxW", help="generated bag frame size")
    p.add_argument("--source", choices=sorted(SOURCES), default="synthetic", help="generated bag content")
    p.add_argument(
        "--hz",
        type=float,
        default=10.0,
        help="camera rate of the generated bag (the kB/s at camera rate use the bag's own stamps)",
    )
    p.add_argument("--cache", help="folder for the generated bag (default: data/demo)")
    p.add_argument("--config", help="base params file (default: the package's config/stereo_dsc.yaml)")
    p.add_argument("--model", help="override the model of the three nodes")
    p.add_argument("--code-rate", type=int, help="rate point of both encoders (0 = lowest bitrate)")
    p.add_argument("--device", help="torch device of the nodes (auto, cpu, cuda)")
    p.add_argument(
        "--left-codec",
        choices=("level1", "avif", "jxl", "jpeg"),
        help="left encoder's codec (classical codecs take --left-quality; the right is unchanged)",
    )
    p.add_argument(
        "--left-quality",
        type=int,
        metavar="Q",
        help="quality 0..100 of a classical left codec or of the compressed_image JPEG; -1 = default",
    )
    p.add_argument(
        "--left-input",
        choices=("dsc_code", "compressed_image"),
        default="dsc_code",
        help="compressed_image: no left encoder; the left camera's JPEG CompressedImage is the left",
    )
    p.add_argument("--in-flight", type=int, default=2, help="gated playback: frames allowed in the pipeline")
    p.add_argument("--rate", type=float, help="play on the bag clock at this factor instead of gating")
    p.add_argument("--frame-timeout", type=float, default=60.0, help="give up on a frame after SEC")
    p.add_argument(
        "--sync-timeout-ms",
        type=float,
        default=5000.0,
        help="decoder's wait for the partner code (the shipped 500 ms is tight on 2 loaded cores)",
    )
    p.add_argument("--ready-timeout", type=float, default=240.0)
    p.add_argument(
        "--offline-check",
        type=int,
        default=2,
        metavar="N",
        help="decode N pairs again from the code bag and compare (0: skip)",
    )
    p.add_argument("--quiet", action="store_true")
    return p


def main(argv: list | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.left_input == "compressed_image" and args.left_codec not in (None, "jpeg"):
        parser.error("--left-input compressed_image sends the camera's JPEG: --left-codec does not apply")
    try:
        s = run(args)
    except KeyboardInterrupt:
        print("[dsc-demo] interrupted", file=sys.stderr)
        return 130
    return 0 if s["pairs_decoded"] == s["pairs_sent"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
