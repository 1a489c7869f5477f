"""Faults: kill each node in turn with SIGKILL mid-stream, restart it, measure the recovery.

    .venv/bin/python test/soak/faults.py [--mode manual|respawn] [--rate 2] [--size 64x128] [--window-s 6]
                                         [--out out/faults.json]

The three nodes run as separate processes (the command lines of dsc_ros.tools.node_set, as dsc-launch and the ROS 2
launch file build them), so each can be killed alone. This process publishes stereo pairs at ``--rate`` Hz all
along and subscribes to the decoded images. For left_encoder, right_encoder and decoder in turn:

1. SIGKILL the node (no clean shutdown). ``--mode manual`` (the default): restart it at once with the same
   command line, as an operator or a supervisor would. ``--mode respawn``: the nodes run under ``dsc-launch``,
   which starts the dead node again by itself (``node_set.RESPAWN_DELAY_S`` later); ``--mode standby``: the same
   with ``dsc-launch --standby``, which promotes a warm standby of the node instead (model loaded before the
   kill; the next victim is killed only once its standby is ready). In both launcher modes times run from the
   kill, so they include the launcher noticing the death;
2. measure restart -> "node ready" and restart -> first decoded pair (both sides out, published after the kill);
3. after the recovery (first pair + ``sync.timeout_ms`` + 1 s, so that codes stranded by the outage have
   timed out), publish for ``--window-s`` more seconds: every one of those pairs must decode on both sides,
   and the decoder's ``degraded`` counter must not move (every right had its left).

Reported: per victim the times above, pairs lost during the outage, and the recovery check; JSON on stdout
and in ``--out``. Exit 0 when every recovery check passed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

NS = "/dsc_faults"
LEFT_IN, RIGHT_IN = "/faults_cam/left/image_raw", "/faults_cam/right/image_raw"
DEC_R = "dsc_ros/decoder: right decode"


class Stream:
    """Publishes pairs at a fixed rate on a thread; records what was sent and what came out."""

    def __init__(self, tn, rate: float, h: int, w: int):
        from sensor_msgs.msg import Image

        import ros_helpers as rh
        from dsc_ros.wire import stamp_to_ns

        self.tn, self.rate = tn, rate
        self.pubs = {s: tn.publisher(Image, t, depth=10) for s, t in (("left", LEFT_IN), ("right", RIGHT_IN))}
        self.msgs = [
            (rh.image_msg(l, "rgb8", 0, "f_left"), rh.image_msg(r, "rgb8", 0, "f_right"))
            for l, r in (rh.synthetic_pair(h, w, seed=i) for i in range(3))
        ]
        self.sent: dict = {}
        self.got: dict = {"left": {}, "right": {}}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        for side in ("left", "right"):
            tn.node.create_subscription(
                Image,
                f"{NS}/{side}/image_decoded",
                lambda m, s=side: self._on(s, stamp_to_ns(m.header.stamp)),
                tn.qos(50),
            )
        self._th = threading.Thread(target=self._run, daemon=True)

    def _on(self, side, st):
        with self.lock:
            self.got[side].setdefault(st, time.monotonic())

    def start(self):
        self._th.start()

    def stop(self):
        self._stop.set()
        self._th.join(5)

    def _run(self):
        t0, i, stamp0 = time.monotonic(), 0, 1_600_000_000 * 10**9
        while not self._stop.is_set():
            t = t0 + i / self.rate
            if t > time.monotonic():
                time.sleep(t - time.monotonic())
            st = stamp0 + int(i * 1e9 / self.rate)
            ml, mr = self.msgs[i % len(self.msgs)]
            for m in (ml, mr):
                m.header.stamp.sec, m.header.stamp.nanosec = divmod(st, 10**9)
            with self.lock:
                self.sent[st] = time.monotonic()
            self.pubs["left"].publish(ml)
            self.pubs["right"].publish(mr)
            i += 1

    def pairs_done(self, since: float) -> list:
        """Stamps sent after ``since`` (monotonic) whose left and right both came out, oldest first."""
        with self.lock:
            return sorted(
                s for s, t in self.sent.items() if t >= since and s in self.got["left"] and s in self.got["right"]
            )

    def sent_between(self, a: float, b: float) -> list:
        with self.lock:
            return sorted(s for s, t in self.sent.items() if a <= t < b)

    def decoded(self, st) -> bool:
        with self.lock:
            return st in self.got["left"] and st in self.got["right"]


def wait(pred, timeout, step=0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=2.0)
    ap.add_argument("--size", default="64x128", help="HxW")
    ap.add_argument("--window-s", type=float, default=6.0, help="recovery window that must decode completely")
    ap.add_argument("--timeout-ms", type=float, default=1000.0, help="decoder sync.timeout_ms")
    ap.add_argument("--victims", default="left_encoder,right_encoder,decoder")
    ap.add_argument(
        "--mode",
        choices=("manual", "respawn", "standby"),
        default="manual",
        help="who restarts the killed node: this script at once, dsc-launch's respawn, or dsc-launch "
        "--standby's warm standby",
    )
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--logs", type=Path, default=None)
    a = ap.parse_args(argv)
    h, w = (int(v) for v in a.size.lower().split("x"))

    import ros_helpers as rh
    from dsc_ros.tools import node_set
    from dsc_ros.tools.node_set import READY_MARKER

    logs = a.logs or Path(tempfile.mkdtemp(prefix="dsc_faults_"))
    logs.mkdir(parents=True, exist_ok=True)
    cfg = rh.write_test_config(logs, timeout_ms=a.timeout_ms)
    specs = {s.name: s for s in node_set.node_specs(str(cfg), NS, LEFT_IN, RIGHT_IN)}
    env = rh.node_env()
    procs = {}
    runs = {}
    launcher = None

    def start(name):
        runs[name] = runs.get(name, 0) + 1
        procs[name] = rh.Process(
            specs[name].command(sys.executable), logs / f"{name}_{runs[name]}.log", env=env, nice=a.nice
        )
        return procs[name]

    def launcher_pids() -> dict:
        import re

        pids = {}  # in log order, so the latest start or takeover of a node wins
        for m in re.finditer(
            r"process started with pid \[(\d+)\]: \S+ -m dsc_ros\.nodes\.(\w+)"
            r"|standby with pid \[(\d+)\] takes over as (\w+)",
            launcher.output(),
        ):
            pid, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            pids[name] = int(pid)
        return pids

    def standbys_ready() -> int:
        return launcher.output().count(node_set.STANDBY_MARKER)

    res: dict = {
        "config": {
            "mode": a.mode,
            "rate_hz": a.rate,
            "size": [h, w],
            "window_s": a.window_s,
            "sync_timeout_ms": a.timeout_ms,
            "respawn_delay_s": node_set.RESPAWN_DELAY_S if a.mode == "respawn" else None,
        },
        "logs": str(logs),
        "victims": {},
    }
    tn = rh.RosTestNode("dsc_faults")
    stream = None
    try:
        t0 = time.monotonic()
        if a.mode == "manual":
            for name in specs:
                start(name)
            for name, p in procs.items():
                if not p.wait_output(READY_MARKER, 1, 300):
                    raise RuntimeError(f"{name} not ready:\n{p.output()[-2000:]}")
        else:
            launcher = rh.Process(
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
                ]
                + (["--standby"] if a.mode == "standby" else []),
                logs / "launch.log",
                env=env,
                nice=a.nice,
            )
            if not launcher.wait_output(READY_MARKER, 3, 300):
                raise RuntimeError(f"nodes not ready:\n{launcher.output()[-3000:]}")
        res["nodes_ready_s"] = round(time.monotonic() - t0, 1)
        diag = rh.Diagnostics(tn)
        stream = Stream(tn, a.rate, h, w)
        for p in stream.pubs.values():
            if not tn.wait_matched(p, 1, 60):
                raise RuntimeError("encoder subscriptions never matched")
        stream.start()
        if not wait(lambda: len(stream.pairs_done(0)) >= 3, 60):
            raise RuntimeError("no steady state: fewer than 3 decoded pairs in 60 s")
        for victim in a.victims.split(","):
            r: dict = {}
            t_kill = time.monotonic()
            if a.mode == "manual":
                old = procs[victim]
                old.kill()  # SIGKILL to its process group: no clean shutdown
                old.close()
                r["killed_rc"] = old.popen.returncode
                t_restart = time.monotonic()
                new = start(victim)
                r["restart_to_ready_s"] = (
                    round(time.monotonic() - t_restart, 2) if new.wait_output(READY_MARKER, 1, 300) else None
                )
            else:
                import os
                import signal

                if a.mode == "standby":
                    n_sb = len(specs) + sum(1 for v in res["victims"].values())  # one more after each takeover
                    if not wait(lambda n_sb=n_sb: standbys_ready() >= n_sb, 120):
                        raise RuntimeError(f"standby of {victim} not ready:\n{launcher.output()[-3000:]}")
                    t_kill = time.monotonic()
                n_ready = launcher.output().count(READY_MARKER)
                os.killpg(launcher_pids()[victim], signal.SIGKILL)  # the node's own session, not the launcher
                t_restart = t_kill
                r["restart_to_ready_s"] = (
                    round(time.monotonic() - t_kill, 2)
                    if launcher.wait_output(READY_MARKER, n_ready + 1, 300)
                    else None
                )
            ok = wait(lambda t_kill=t_kill: stream.pairs_done(t_kill), 120)
            first = stream.pairs_done(t_kill)[0] if ok else None
            t_first = stream.got["right"].get(first, None) if ok else None
            r["restart_to_first_pair_s"] = round(max(stream.got["left"][first], t_first) - t_restart, 2) if ok else None
            outage = stream.sent_between(t_kill, stream.sent[first] if ok else time.monotonic())
            r["pairs_sent_during_outage"] = len(outage)
            r["pairs_lost_during_outage"] = sum(1 for s in outage if not stream.decoded(s))
            with stream.lock:  # a lost left encoder still gives degraded rights, a lost right lone lefts
                r["outage_left_out"] = sum(1 for s in outage if s in stream.got["left"])
                r["outage_right_out"] = sum(1 for s in outage if s in stream.got["right"])
            # recovery window: starts once stranded codes have timed out
            time.sleep(a.timeout_ms / 1e3 + 1.0)
            deg0 = diag.value(DEC_R, "degraded")
            t_w0 = time.monotonic()
            time.sleep(a.window_s)
            t_w1 = time.monotonic()
            window = stream.sent_between(t_w0, t_w1)
            wait(lambda window=window: all(stream.decoded(s) for s in window), 30)
            time.sleep(1.0)  # let /diagnostics catch up
            r["window_pairs"] = len(window)
            r["window_decoded"] = sum(1 for s in window if stream.decoded(s))
            r["window_degraded"] = diag.value(DEC_R, "degraded") - deg0
            r["recovered"] = (
                ok and r["window_pairs"] > 0 and r["window_decoded"] == r["window_pairs"] and r["window_degraded"] == 0
            )
            res["victims"][victim] = r
            print(f"[faults] {victim}: {r}", flush=True)
        res["ok"] = bool(res["victims"]) and all(v["recovered"] for v in res["victims"].values())
    except Exception as e:
        res["ok"] = False
        res["error"] = f"{type(e).__name__}: {e}"
    finally:
        if stream is not None:
            stream.stop()
        tn.close()
        for p in procs.values():
            p.interrupt(20)
            p.close()
        if launcher is not None:
            res["launcher_rc"] = launcher.interrupt(30)
            launcher.close()
    return rh.write_report(res, a.out)


if __name__ == "__main__":
    sys.exit(main())
