"""``dsc-launch``: start the dsc_ros node set without ``ros2 launch`` (the pip world has no ``launch``).

Usage::

    dsc-launch [CONFIG.yaml] [--bag FILE] [--namespace NS] [--left-topic T] [--right-topic T]

Why it exists and what it promises: ``launch``/``launch_ros`` are not installable here, yet users need
one command for the pipeline. It reads the same :mod:`dsc_ros.tools.node_set` as ``launch/stereo_dsc.launch.py``
and runs each node as its own process with exactly the arguments ``ros2 launch`` would pass
(``--ros-args -r __node:=NAME -r __ns:=NS --params-file CONFIG -r from:=to``). Output lines are prefixed
``[name-N]`` as ros2 launch does; exits are reported. On Ctrl-C (or SIGTERM) it sends SIGINT to every
child (they run in their own sessions, so each gets exactly one), escalates to SIGTERM and then SIGKILL
after ``--sigterm-timeout`` seconds, like ros2 launch.

A node that dies (a crash, SIGKILL, out of memory) is started again after ``node_set.RESPAWN_DELAY_S``, as
``ros2 launch`` does for ``respawn=True`` nodes, so the pipeline heals without anyone at the keyboard; a node
that keeps dying within seconds of its start is restarted with a doubling delay (up to 30 s).
``--no-respawn`` turns this off.

``--standby`` makes that recovery fast: once a node is ready, the launcher starts a second, idle copy of it
that imports torch, loads the model, brings up its DDS participant (held by a hidden placeholder node, so
the node itself is not in the graph yet, but its peers already know the participant) and waits. When the
node dies the standby is told to go on (a line on its stdin) and only the node itself remains to start;
a new standby follows ``node_set.STANDBY_RESTART_DELAY_S`` later. The price is an idle process per node
(memory, no CPU). ``ros2 launch`` has no such thing: its ``respawn`` starts the node from nothing.

``--nodes`` runs a subset of the node set, for a real rig where each computer runs its own node.

With ``--bag`` it also starts the bag player (``python -m dsc_ros.tools.bags.player BAG --left-topic ...
--right-topic ...``), but only once every node has logged that it is ready (the model takes seconds to
load), so no frame of a short bag is lost. ``--exit-with-bag`` shuts the nodes down when the bag ends.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time

from dsc_ros.tools import node_set


def _load_prctl():
    """libc's prctl, resolved in the launcher itself: the child may only call it (no imports after fork)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child, before exec: get SIGTERM if the launcher dies (Linux PR_SET_PDEATHSIG).

    Nodes run in their own sessions (so Ctrl-C reaches each exactly once, from us); without this a launcher
    killed with SIGKILL would leave them running, still publishing, with nobody to stop them.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


class Proc:
    """One child process with a prefixed output pump."""

    def __init__(
        self,
        label: str,
        cmd: list[str],
        env: dict[str, str],
        out=None,
        ready_marker: str | None = None,
        standby: bool = False,
    ):
        self.label = label
        self.cmd = cmd
        self.started = time.monotonic()
        self.ready = threading.Event()
        self._marker = ready_marker
        self._out = out or sys.stdout
        # a standby waits for "go" on its stdin; a node's stdin is the launcher's, as with ros2 launch
        self.popen = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            stdin=subprocess.PIPE if standby else None,
            start_new_session=True,
            bufsize=0,
            preexec_fn=_die_with_parent,
        )
        self._pump = threading.Thread(target=self._read, daemon=True)
        self._pump.start()
        if ready_marker is None:
            self.ready.set()

    def _read(self) -> None:
        for raw in iter(self.popen.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if self._marker and self._marker in line:
                self.ready.set()
            try:
                print(f"[{self.label}] {line}", file=self._out, flush=True)
            except ValueError:  # our stdout closed at exit
                return

    def promote(self, label: str, ready_marker: str) -> bool:
        """Tell a standby to become its node (see dsc_ros.nodes.node_base.stand_by). False if it is gone."""
        if self.popen.poll() is not None or self.popen.stdin is None:
            return False
        self.ready.clear()
        self._marker = ready_marker
        try:
            self.popen.stdin.write(b"go\n")
            self.popen.stdin.flush()
        except OSError:  # it died between poll() and now
            return False
        self.label, self.started = label, time.monotonic()
        return True

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def key(self) -> str:
        return f"{self.label}#{self.popen.pid}"

    def poll(self):
        return self.popen.poll()

    def signal(self, sig) -> None:
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass

    def join_output(self, timeout: float = 2.0) -> None:
        self._pump.join(timeout)


def log(msg: str, level: str = "INFO") -> None:
    print(f"[{level}] [launch]: {msg}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dsc-launch", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", nargs="?", help="params file (default: config/stereo_dsc.yaml of the package)")
    p.add_argument("--bag", help="play this bag (ROS 1 .bag or ROS 2 bag) into the encoders' inputs")
    p.add_argument(
        "--namespace",
        default=node_set.DEFAULT_NAMESPACE,
        help=f"namespace of the three nodes (default {node_set.DEFAULT_NAMESPACE!r}; '' or / for none)",
    )
    p.add_argument("--left-topic", default=node_set.DEFAULT_LEFT_TOPIC, help="left camera image topic")
    p.add_argument("--right-topic", default=node_set.DEFAULT_RIGHT_TOPIC, help="right camera image topic")
    p.add_argument("--left-info-topic", help="left camera_info topic (default: next to the image topic)")
    p.add_argument("--right-info-topic", help="right camera_info topic (default: next to the image topic)")
    p.add_argument(
        "--left-codec",
        choices=("level1", "avif", "jxl", "jpeg"),
        help="left encoder's codec (overrides the params file's left_codec)",
    )
    p.add_argument(
        "--left-quality",
        type=int,
        metavar="Q",
        help="quality 0..100 of a classical left codec, -1 = its default (overrides left_quality)",
    )
    p.add_argument(
        "--left-input",
        choices=("dsc_code", "compressed_image"),
        help="what the decoder takes as the left (overrides left_input); compressed_image reads "
        "<left-topic>/compressed",
    )
    p.add_argument(
        "--nodes",
        default=",".join(node_set.NODE_NAMES),
        metavar="NAMES",
        help="comma-separated subset of the node set to run here (default: all three). On a real rig "
        "each camera computer runs its own encoder and the processing unit the decoder, e.g. "
        "--nodes left_encoder --standby on the left camera's computer",
    )
    p.add_argument(
        "--player-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the bag player (repeatable), e.g. --player-arg=--rate=0.5",
    )
    p.add_argument("--exit-with-bag", action="store_true", help="shut down when the bag player ends")
    p.add_argument(
        "--drain",
        type=float,
        default=2.0,
        metavar="SEC",
        help="with --exit-with-bag: time left to the nodes to finish the last frames",
    )
    p.add_argument(
        "--ready-timeout",
        type=float,
        default=120.0,
        metavar="SEC",
        help="how long to wait for the nodes to be ready before starting the bag player",
    )
    p.add_argument(
        "--sigterm-timeout",
        type=float,
        default=5.0,
        metavar="SEC",
        help="after SIGINT, wait this long before SIGTERM, and as long again before SIGKILL",
    )
    p.add_argument("--no-respawn", action="store_true", help="do not start a node again when it dies")
    p.add_argument(
        "--standby",
        action="store_true",
        help="keep one warm standby process per node (torch, the model and its DDS participant up, no "
        "node yet) and promote it when the node dies, instead of starting one from nothing. Costs "
        "an idle process per node (memory, no CPU)",
    )
    p.add_argument("--print", action="store_true", dest="print_only", help="print the commands and exit")
    return p


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    config = os.path.abspath(a.config) if a.config else node_set.default_config()
    if not os.path.isfile(config):
        log(f"params file {config} not found", "ERROR")
        return 2
    if a.bag and not os.path.exists(a.bag):
        log(f"bag {a.bag} not found", "ERROR")
        return 2
    if a.standby and a.no_respawn:
        log("--standby takes over dead nodes; it makes no sense with --no-respawn", "ERROR")
        return 2
    wanted = [n.strip() for n in a.nodes.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(node_set.NODE_NAMES))
    if unknown or not wanted:
        log(f"--nodes {a.nodes!r}: choose from {', '.join(node_set.NODE_NAMES)}", "ERROR")
        return 2
    specs = [
        s
        for s in node_set.node_specs(
            config,
            a.namespace,
            a.left_topic,
            a.right_topic,
            a.left_info_topic,
            a.right_info_topic,
            respawn=not a.no_respawn,
            left_codec=a.left_codec,
            left_quality=a.left_quality,
            left_input=a.left_input,
        )
        if s.name in wanted
    ]
    player_cmd = (
        node_set.player_command(os.path.abspath(a.bag), a.left_topic, a.right_topic, a.player_arg) if a.bag else None
    )
    if a.print_only:
        for s in specs:
            print(" ".join(s.command()))
        if player_cmd:
            print(" ".join(player_cmd))
        return 0

    stop = threading.Event()
    hits = [0]

    def on_signal(signum, frame):
        hits[0] += 1
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
    procs: dict[str, Proc] = {}  # node name -> its current process
    by_name = {s.name: s for s in specs}
    respawn_at: dict[str, float] = {}  # node name -> when to start it again
    delay: dict[str, float] = {s.name: s.respawn_delay for s in specs}
    reported = set()
    player: Proc | None = None
    rc = 0
    labels = {s.name: i for i, s in enumerate(specs, 1)}  # the N of "[name-N]", as ros2 launch numbers them
    standbys: dict[str, Proc] = {}  # node name -> its warm standby (with --standby)
    standby_after: dict[str, float] = {s.name: 0.0 for s in specs}  # node name -> earliest next standby start
    standby_delay: dict[str, float] = {s.name: node_set.STANDBY_RESTART_DELAY_S for s in specs}
    standby_env = dict(env, **{node_set.STANDBY_ENV: "1"})

    def start(i: int, s) -> Proc:
        p = Proc(f"{s.name}-{i}", s.command(), env, ready_marker=node_set.READY_MARKER)
        log(f"process started with pid [{p.pid}]: {' '.join(p.cmd)}")
        return p

    def standby_ready(name: str) -> bool:
        sb = standbys.get(name)
        return sb is not None and sb.poll() is None and sb.ready.is_set()

    def tend_standbys(now: float) -> None:
        """Start a node's standby once the node is ready (not before: on a small machine its torch import
        would slow the node's own start), and again after a standby died (with a doubling delay) or was
        promoted (after STANDBY_RESTART_DELAY_S)."""
        for name, s in by_name.items():
            sb = standbys.get(name)
            if sb is not None and sb.poll() is not None:
                del standbys[name]
                sb.join_output()
                reported.add(sb.key)
                lived = now - sb.started
                standby_delay[name] = (
                    min(60.0, standby_delay[name] * 2) if lived < 10.0 else node_set.STANDBY_RESTART_DELAY_S
                )
                standby_after[name] = now + standby_delay[name]
                log(
                    f"standby [pid {sb.pid}] of {name} exited (code {sb.poll()}); another in "
                    f"{standby_delay[name]:.0f} s",
                    "WARNING",
                )
            node = procs.get(name)
            if (
                name not in standbys
                and now >= standby_after[name]
                and node is not None
                and node.poll() is None
                and node.ready.is_set()
            ):
                sb = Proc(
                    f"{name}-standby", s.command(), standby_env, ready_marker=node_set.STANDBY_MARKER, standby=True
                )
                standbys[name] = sb
                log(f"standby started with pid [{sb.pid}] for {name}")

    def restart(name: str, now: float) -> Proc:
        """The node again: its standby promoted if one is ready, else a fresh process."""
        if standby_ready(name):
            sb = standbys.pop(name)
            if sb.promote(f"{name}-{labels[name]}", node_set.READY_MARKER):
                standby_after[name] = now + node_set.STANDBY_RESTART_DELAY_S
                log(f"process[{sb.label}]: standby with pid [{sb.pid}] takes over as {name}")
                return sb
            reported.add(sb.key)
            log(f"standby [pid {sb.pid}] of {name} was gone; starting {name} afresh", "WARNING")
        return start(labels[name], by_name[name])

    try:
        for s in specs:
            procs[s.name] = start(labels[s.name], s)
        deadline = time.monotonic() + a.ready_timeout
        bag_done_at = None
        while not stop.is_set():
            now = time.monotonic()
            for p in list(procs.values()) + ([player] if player else []):
                code = p.poll()
                if code is not None and p.key not in reported:
                    reported.add(p.key)
                    if code == 0:
                        log(f"process[{p.label}]: process has finished cleanly [pid {p.pid}]")
                    else:
                        log(
                            f"process[{p.label}]: process has died [pid {p.pid}, exit code {code}, "
                            f"cmd '{' '.join(p.cmd)}']",
                            "ERROR",
                        )
                        if p is not player:
                            rc = 1
                    name = p.label.rsplit("-", 1)[0]
                    if p is not player and by_name[name].respawn:
                        # a crash loop (dies within 5 s of its start) backs off; a node that served a while
                        # gets the short delay again, or none when a warm standby can take over
                        lived = now - p.started
                        base = by_name[name].respawn_delay
                        warm = standby_ready(name)
                        if lived < 5.0:
                            delay[name] = min(30.0, max(delay[name], base) * 2)
                        else:
                            delay[name] = 0.0 if warm else base
                        respawn_at[name] = now + delay[name]
                        note = " (standby ready)" if warm else ""
                        log(f"process[{p.label}]: respawning in {delay[name]:.1f} s{note}")
            for name, t in list(respawn_at.items()):
                if now >= t:
                    del respawn_at[name]
                    procs[name] = restart(name, now)
            if a.standby and not stop.is_set():
                tend_standbys(now)
            nodes_alive = [p for p in procs.values() if p.poll() is None]
            if not nodes_alive and not respawn_at:
                log("all nodes have exited")
                break
            if player_cmd and player is None:
                if all(p.ready.is_set() for p in procs.values()):
                    player = Proc(f"player-{len(procs) + 1}", player_cmd, env)
                    log(f"nodes ready; process started with pid [{player.pid}]: {' '.join(player_cmd)}")
                elif time.monotonic() > deadline:
                    log(f"nodes not ready after {a.ready_timeout:.0f} s; starting the bag player anyway", "WARNING")
                    deadline = float("inf")
                    player = Proc(f"player-{len(procs) + 1}", player_cmd, env)
            if a.exit_with_bag and player is not None and player.poll() is not None:
                if bag_done_at is None:
                    bag_done_at = time.monotonic()
                    if player.poll() != 0:
                        rc = rc or 1
                elif time.monotonic() - bag_done_at >= a.drain:
                    log("bag finished; shutting down")
                    break
            time.sleep(0.1)
        if stop.is_set():
            log("user interrupted with ctrl-c (SIGINT)" if hits[0] else "shutting down")
        rc = (
            shutdown(
                list(procs.values()) + list(standbys.values()) + ([player] if player else []),
                a.sigterm_timeout,
                hits,
                reported,
            )
            or rc
        )
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    return rc


def shutdown(procs: list[Proc], timeout: float, hits: list[int], reported: set) -> int:
    """SIGINT all, then SIGTERM, then SIGKILL (ros2 launch's escalation). Returns 1 if one had to be killed."""
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.signal(signal.SIGINT)
    rc = 0
    for sig, label in ((signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL")):
        end = time.monotonic() + timeout
        seen = hits[0]
        while time.monotonic() < end and any(p.poll() is None for p in alive):
            if hits[0] > seen and hits[0] >= 2:  # another Ctrl-C: escalate now
                break
            time.sleep(0.05)
        left = [p for p in alive if p.poll() is None]
        if not left:
            break
        for p in left:
            log(
                f"process[{p.label}] failed to terminate {timeout:.0f} s after the previous signal; sending {label}",
                "ERROR",
            )
            p.signal(sig)
            rc = 1
    for p in procs:
        try:
            p.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        p.join_output()
        code = p.poll()
        if p.key not in reported:
            reported.add(p.key)
            if code == 0:
                log(f"process[{p.label}]: process has finished cleanly [pid {p.pid}]")
            else:
                log(
                    f"process[{p.label}]: process has died [pid {p.pid}, exit code {code}]",
                    "ERROR" if code not in (None, -signal.SIGINT) else "INFO",
                )
    return rc


if __name__ == "__main__":
    sys.exit(main())
