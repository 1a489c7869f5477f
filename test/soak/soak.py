"""Soak: KITTI-size synthetic stereo pairs at a fixed rate through the three nodes, for minutes.

    .venv/bin/python test/soak/soak.py --minutes 10 --rate 10 --size 375x1242 [--out out/soak.json]

The nodes are started by ``dsc-launch`` (``python -m dsc_ros.tools.launcher``: the same node_set as the ROS 2 launch
file) with config/stereo_dsc.yaml, reliable QoS (the default there), both encoders at their smallest rate
point (``rate: 0``), in a random ROS domain on localhost. Fast DDS runs with the LARGE_DATA builtin
transports (raw 375x1242 rgb8 images are 1.4 MB; see /work/shared/notes/ros2-from-pip.md). This process
publishes left and right images with the same stamp at ``--rate`` Hz (a few distinct pairs, cycled) and
subscribes to the decoded images.

With ``--throttle-hz`` both encoders code only the frames ``dsc_ros.nodes.throttle`` picks by stamp (the rate a
2-core machine can sustain at KITTI size); pairs are then counted over those frames.

Reported (JSON on stdout and in ``--out``): pairs published, decoded (both sides), lost (a side never came
out) and degraded; latency (publish -> decoded image received, per pair: the later side) median and p99 over
the first and the last ``--window`` fraction of the run; RSS of each node every ``--rss-every-s`` seconds, and
the growth of the medians of the first and the last ``--window`` of the samples taken after
``--rss-settle-s`` (the target figure; ``rss_growth`` says why), its slope, and start -> end; the decoder's
and encoders' drop counters from /diagnostics.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

NS = "/dsc_soak"
LEFT_IN, RIGHT_IN = "/soak_cam/left/image_raw", "/soak_cam/right/image_raw"
NODES = ("left_encoder", "right_encoder", "decoder")
STATUS = {
    "left_encoder": "dsc_ros/left_encoder: left encode",
    "right_encoder": "dsc_ros/right_encoder: right encode",
    "decoder_left": "dsc_ros/decoder: left decode",
    "decoder_right": "dsc_ros/decoder: right decode",
}


def percentile(v, q):
    from dsc_ros.nodes.diagnostics import percentile as p

    return round(p(v, q) * 1e3, 1) if v else None


def rss_mb(pid) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def node_pids(launch_output: str) -> dict:
    pids = {}
    for m in re.finditer(r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.(\w+)", launch_output):
        pids[m.group(2)] = int(m.group(1))
    return pids


def write_config(folder: Path, args) -> Path:
    import yaml

    doc = yaml.safe_load((ROOT / "config" / "stereo_dsc.yaml").read_text())
    for key, node in doc.items():
        p = node["ros__parameters"]
        for q in ("input", "output"):
            p["qos"][q]["reliability"] = "reliable"
        if "encoder" in key:
            p["rate"] = 0  # the smallest rate point of each camera
            p["throttle"]["max_rate_hz"] = float(args.throttle_hz)
            if args.input_depth:
                p["qos"]["input"]["depth"] = int(args.input_depth)
        if args.decoder_timeout_ms and key.endswith("decoder"):
            p["sync"]["timeout_ms"] = float(args.decoder_timeout_ms)
    path = folder / "soak.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def rss_growth(series, rss, window: float, settle_s: float = 0.0) -> dict:
    """Per node: the growth of the median RSS of the last ``window`` of the samples over that of the first
    (the target figure), counted from ``settle_s`` into the run; the least-squares slope over the second
    half; and start -> end (single samples, after the warm-up).

    Why medians after a settling time: at KITTI size a frame in flight (the image, torch's activations) is
    100-200 MB of anonymous mappings that come and go within a frame, so any one sample says where the
    worker was in its frame, and the per-window minimum is no better (it catches the dips right after a
    malloc_trim: 612 MB in a right encoder that otherwise sat at 764 MB). And a process's allocator fills its
    arenas during the first minutes: the decoder stepped from 829 to 882 MB about 110 s into a 10-minute run
    and stayed there to the end. A leak shows as growth after that and as a steady slope; a high-water mark
    does not.
    """
    import statistics

    out = {}
    kept = [(t, r) for t, r in series if t >= settle_s] or series
    k = max(1, int(len(kept) * window))
    for n in rss["end"]:
        vals = [(t, r.get(n)) for t, r in kept if r.get(n)]
        if not vals or not rss["start"].get(n) or not rss["end"].get(n):
            continue
        first = statistics.median(v for _, v in vals[:k])
        last = statistics.median(v for _, v in vals[-k:])
        half = vals[len(vals) // 2 :]
        slope = None
        if len(half) >= 3:
            tm = statistics.mean(t for t, _ in half)
            vm = statistics.mean(v for _, v in half)
            den = sum((t - tm) ** 2 for t, _ in half)
            slope = round(60 * sum((t - tm) * (v - vm) for t, v in half) / den, 2) if den else None
        out[n] = {
            "window_medians": round(100 * (last / first - 1), 1),
            "first_window_median_mb": first,
            "last_window_median_mb": last,
            "from_s": vals[0][0],
            "samples_per_window": k,
            "slope_second_half_mb_per_min": slope,
            "start_to_end": round(100 * (rss["end"][n] / rss["start"][n] - 1), 1),
        }
    return out


def yaml_slop_s(cfg_path: Path) -> float:
    import yaml

    doc = yaml.safe_load(cfg_path.read_text())
    enc = next(v for k, v in doc.items() if k.endswith("left_encoder"))
    return float(enc["ros__parameters"]["throttle"]["slop_ms"]) / 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=10.0, help="pairs per second")
    ap.add_argument("--size", default="375x1242", help="HxW")
    ap.add_argument("--warmup-s", type=float, default=10.0, help="publishing before the start RSS is taken")
    ap.add_argument("--window", type=float, default=0.2, help="fraction of the run for start/end latency")
    ap.add_argument("--drain-s", type=float, default=10.0, help="wait for the last outputs after publishing")
    ap.add_argument("--decoder-timeout-ms", type=float, default=None, help="override sync.timeout_ms")
    ap.add_argument(
        "--throttle-hz",
        type=float,
        default=0.0,
        help="encoders' throttle.max_rate_hz (0 = code every frame); lost pairs are then counted "
        "over the frames the throttle selects",
    )
    ap.add_argument("--input-depth", type=int, default=None, help="override the encoders' qos.input.depth")
    ap.add_argument("--rss-every-s", type=float, default=5.0, help="RSS sampling period")
    ap.add_argument(
        "--rss-settle-s",
        type=float,
        default=120.0,
        help="RSS growth counts from this long after the warm-up (allocator arenas fill first)",
    )
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--logs", type=Path, default=None, help="folder for the launcher log (default: a temp folder)")
    a = ap.parse_args(argv)
    h, w = (int(v) for v in a.size.lower().split("x"))
    os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")  # this process (the in-test node) too

    import tempfile

    import ros_helpers as rh
    from dsc_ros.tools.node_set import READY_MARKER

    logs = a.logs or Path(tempfile.mkdtemp(prefix="dsc_soak_"))
    logs.mkdir(parents=True, exist_ok=True)
    cfg = write_config(logs, a)
    env = rh.node_env({"FASTDDS_BUILTIN_TRANSPORTS": os.environ["FASTDDS_BUILTIN_TRANSPORTS"]})
    t_launch = time.monotonic()
    proc = rh.Process(
        [
            sys.executable,
            "-m",
            "dsc_ros.tools.launcher",
            str(cfg),
            "--namespace",
            NS,
            "--left-topic",
            LEFT_IN,
            "--right-topic",
            RIGHT_IN,
        ],
        logs / "launch.log",
        env=env,
        nice=a.nice,
    )
    tn = rh.RosTestNode("dsc_soak")
    res: dict = {
        "config": {
            "minutes": a.minutes,
            "rate_hz": a.rate,
            "size": [h, w],
            "qos": "reliable",
            "encoder_rate_point": 0,
            "transports": os.environ["FASTDDS_BUILTIN_TRANSPORTS"],
        },
        "logs": str(logs),
    }
    try:
        from sensor_msgs.msg import Image

        from dsc_ros.wire import stamp_to_ns

        pubs = {s: tn.publisher(Image, t, depth=10) for s, t in (("left", LEFT_IN), ("right", RIGHT_IN))}
        sent: dict = {}
        got: dict = {"left": {}, "right": {}}

        def on_img(side, m):
            got[side].setdefault(stamp_to_ns(m.header.stamp), time.monotonic())

        for side in ("left", "right"):
            tn.node.create_subscription(Image, f"{NS}/{side}/image_decoded", lambda m, s=side: on_img(s, m), tn.qos(50))
        diag = rh.Diagnostics(tn)
        if not proc.wait_output(READY_MARKER, 3, 300):
            raise RuntimeError("nodes not ready:\n" + proc.output()[-3000:])
        res["nodes_ready_s"] = round(time.monotonic() - t_launch, 1)
        for p in pubs.values():
            if not tn.wait_matched(p, 1, 60):
                raise RuntimeError("encoder subscriptions never matched")
        pids = node_pids(proc.output())
        pairs = [rh.synthetic_pair(h, w, seed=i) for i in range(4)]
        msgs = [(rh.image_msg(l, "rgb8", 0, "soak_left"), rh.image_msg(r, "rgb8", 0, "soak_right")) for l, r in pairs]
        duration = a.warmup_s + a.minutes * 60.0
        stamp0 = 1_700_000_000 * 10**9
        rss = {}

        def publish():
            t0 = time.monotonic()
            i = 0
            while True:
                t = t0 + i / a.rate
                if t - t0 > duration:
                    return
                now = time.monotonic()
                if t > now:
                    time.sleep(t - now)
                st = stamp0 + int(i * 1e9 / a.rate)
                ml, mr = msgs[i % len(msgs)]
                for m in (ml, mr):
                    m.header.stamp.sec, m.header.stamp.nanosec = divmod(st, 10**9)
                sent[st] = time.monotonic()
                pubs["left"].publish(ml)
                pubs["right"].publish(mr)
                i += 1

        th = threading.Thread(target=publish, daemon=True)
        t_pub = time.monotonic()
        th.start()
        time.sleep(min(a.warmup_s, duration))
        rss["start"] = {n: rss_mb(pid) for n, pid in pids.items()}
        series = [(0.0, rss["start"])]
        next_report = time.monotonic() + 60
        next_rss = time.monotonic() + a.rss_every_s
        while th.is_alive():
            th.join(1.0)
            if time.monotonic() >= next_rss:
                next_rss += a.rss_every_s
                series.append(
                    (round(time.monotonic() - t_pub - a.warmup_s, 1), {n: rss_mb(pid) for n, pid in pids.items()})
                )
            if time.monotonic() >= next_report:
                next_report += 60
                done = len(set(got["left"]) & set(got["right"]))
                print(f"[soak] {time.monotonic() - t_pub:.0f} s: sent {len(sent)}, decoded pairs {done}", flush=True)
        end = time.monotonic() + a.drain_s
        while time.monotonic() < end and not set(sent) <= (set(got["left"]) & set(got["right"])):
            time.sleep(0.2)
        time.sleep(1.5)  # one more diagnostics period
        rss["end"] = {n: rss_mb(pid) for n, pid in pids.items()}
        # ------------------------------------------------------------------ figures
        stamps = sorted(sent)
        warm = [s for s in stamps if sent[s] - t_pub < a.warmup_s]
        from dsc_ros.nodes.throttle import StampThrottle

        slop = yaml_slop_s(cfg)
        throttle = StampThrottle(a.throttle_hz, slop)
        selected = {s for s in stamps if throttle.accept(s)}  # what both encoders code by design
        measured = [s for s in stamps if s not in set(warm) and s in selected]
        both = set(got["left"]) & set(got["right"])
        lat = {s: max(got["left"][s], got["right"][s]) - sent[s] for s in measured if s in both}
        k = max(1, int(len(measured) * a.window))
        first, last = measured[:k], measured[-k:]
        res["pairs"] = {
            "published": len(measured),
            "decoded": sum(1 for s in measured if s in both),
            "lost": sum(1 for s in measured if s not in both),
            "lost_left": sum(1 for s in measured if s not in got["left"]),
            "lost_right": sum(1 for s in measured if s not in got["right"]),
            "warmup_published": len(warm),
            "sent_after_warmup": len(stamps) - len(warm),
            "throttled_hz": a.throttle_hz,
        }
        res["latency_ms"] = {
            "start": {
                "median": percentile([lat[s] for s in first if s in lat], 50),
                "p99": percentile([lat[s] for s in first if s in lat], 99),
            },
            "end": {
                "median": percentile([lat[s] for s in last if s in lat], 50),
                "p99": percentile([lat[s] for s in last if s in lat], 99),
            },
        }
        res["rss_mb"] = rss
        res["rss_series_mb"] = series
        res["rss_growth_pct"] = rss_growth(series, rss, a.window, a.rss_settle_s)
        res["diagnostics"] = {}
        for key, status in STATUS.items():
            vals = diag.latest.get(status, {})
            res["diagnostics"][key] = {
                k: v
                for k, v in vals.items()
                if k
                in (
                    "frames_in",
                    "frames_out",
                    "degraded",
                    "dropped",
                    "skipped",
                    "fps",
                    "latency_ms.median",
                    "latency_ms.p95",
                    "bpp",
                )
                or k.startswith("dropped.")
            }
        res["nodes_alive"] = proc.popen.poll() is None and "process has died" not in proc.output()
        res["ok"] = res["nodes_alive"] and res["pairs"]["decoded"] > 0
    except Exception as e:
        res["ok"] = False
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        tn.close()
        rc = proc.interrupt(30)
        res["shutdown_rc"] = rc
        proc.close()
    return rh.write_report(res, a.out)


if __name__ == "__main__":
    sys.exit(main())
