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
        self.reported = False  # its exit is logged once, by whoever sees it first
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


class NodeSlot:
    """One node of the set under supervision: the process that is the node now, and when and how it comes back.

    Why a class: a node's respawn delay, its crash-loop backoff and its warm standby (with a backoff of its
    own) are decided together, from the same moments (the node's start, its death, the standby's start). One
    object per node keeps those decisions next to the state they read, where parallel per-name dicts let them
    drift apart. The slot decides; the :class:`Supervisor` polls, reports exits and stops everything.
    """

    def __init__(self, spec: node_set.NodeSpec, index: int, env: dict[str, str], standby_env: dict[str, str]):
        self.spec = spec
        self.index = index  # the N of "[name-N]", as ros2 launch numbers them
        self._env = env
        self._standby_env = standby_env
        self.proc: Proc | None = None  # the process that is the node (a dead one until it is replaced)
        self.respawn_at: float | None = None
        self.respawn_scheduled = 0.0
        self.delay = spec.respawn_delay
        self.standby: Proc | None = None  # its warm standby (with --standby)
        self.standby_after = 0.0  # earliest start of the next standby
        self.standby_delay = node_set.STANDBY_RESTART_DELAY_S

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return f"{self.name}-{self.index}"

    def start(self) -> None:
        """The node as a fresh process."""
        self.proc = Proc(self.label, self.spec.command(), self._env, ready_marker=node_set.READY_MARKER)
        log(f"process started with pid [{self.proc.pid}]: {' '.join(self.proc.cmd)}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        return self.proc is not None and self.proc.ready.is_set()

    def standby_ready(self) -> bool:
        sb = self.standby
        return sb is not None and sb.poll() is None and sb.ready.is_set()

    def schedule_respawn(self, now: float) -> None:
        """After the node's death: when to start it again."""
        # a crash loop (dies within 5 s of its start) backs off; a node that served a while gets the short
        # delay again, or none when a warm standby can take over
        lived = now - self.proc.started
        base = self.spec.respawn_delay
        warm = self.standby_ready()
        if lived < 5.0:
            self.delay = min(30.0, max(self.delay, base) * 2)
        else:
            self.delay = 0.0 if warm else base
        self.respawn_at, self.respawn_scheduled = now + self.delay, now
        note = " (standby ready)" if warm else ""
        log(f"process[{self.proc.label}]: respawning in {self.delay:.1f} s{note}")

    def respawn_due(self, now: float) -> bool:
        return self.respawn_at is not None and now >= self.respawn_at

    def restart(self, now: float) -> None:
        """The node again: its standby promoted if one is ready, else a fresh process."""
        self.respawn_at = None
        if self.standby_ready():
            sb, self.standby = self.standby, None
            if sb.promote(self.label, node_set.READY_MARKER):
                self.standby_after = now + node_set.STANDBY_RESTART_DELAY_S
                log(f"process[{sb.label}]: standby with pid [{sb.pid}] takes over as {self.name}")
                self.proc = sb
                return
            sb.reported = True
            log(f"standby [pid {sb.pid}] of {self.name} was gone; starting {self.name} afresh", "WARNING")
        self.start()

    def tend_standby(self, now: float) -> None:
        """Start the node's standby once the node is ready (not before: on a small machine its torch import
        would slow the node's own start), and again after a standby died (with a doubling delay) or was
        promoted (after STANDBY_RESTART_DELAY_S)."""
        sb = self.standby
        if sb is not None and sb.poll() is not None:
            self.standby = None
            sb.join_output()
            sb.reported = True
            lived = now - sb.started
            self.standby_delay = min(60.0, self.standby_delay * 2) if lived < 10.0 else node_set.STANDBY_RESTART_DELAY_S
            self.standby_after = now + self.standby_delay
            log(
                f"standby [pid {sb.pid}] of {self.name} exited (code {sb.poll()}); another in "
                f"{self.standby_delay:.0f} s",
                "WARNING",
            )
        if self.standby is None and now >= self.standby_after and self.alive() and self.ready():
            self.standby = Proc(
                f"{self.name}-standby",
                self.spec.command(),
                self._standby_env,
                ready_marker=node_set.STANDBY_MARKER,
                standby=True,
            )
            log(f"standby started with pid [{self.standby.pid}] for {self.name}")


class Supervisor:
    """The launcher at run time: the node slots, the bag player, the poll loop, signals and the ordered stop.

    Why a class: the loop, the signal handler and the shutdown share the exit code, the count of Ctrl-C
    presses (a second one escalates at once) and which exits were already reported; as attributes of one
    object they are in one place instead of closures over ``main``'s locals.
    """

    POLL_S = 0.1

    def __init__(
        self,
        specs: list[node_set.NodeSpec],
        player_cmd: list[str] | None = None,
        *,
        standby: bool = False,
        exit_with_bag: bool = False,
        drain: float = 2.0,
        ready_timeout: float = 120.0,
        sigterm_timeout: float = 5.0,
    ):
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.setdefault("RCUTILS_LOGGING_BUFFERED_STREAM", "0")
        self.env = env
        standby_env = dict(env, **{node_set.STANDBY_ENV: "1"})
        self.slots = [NodeSlot(s, i, env, standby_env) for i, s in enumerate(specs, 1)]
        self.player_cmd = player_cmd
        self.player: Proc | None = None
        self.standby = standby
        self.exit_with_bag = exit_with_bag
        self.drain = drain
        self.ready_timeout = ready_timeout
        self.sigterm_timeout = sigterm_timeout
        self.stop = threading.Event()
        self.hits = 0  # SIGINT/SIGTERM received
        self.rc = 0

    def _on_signal(self, signum, frame) -> None:
        self.hits += 1
        self.stop.set()

    def run(self) -> int:
        """Start the nodes, supervise until the end (a signal, all nodes gone, the bag done), stop everything."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for slot in self.slots:
                slot.start()
            self._supervise()
            if self.stop.is_set():
                log("user interrupted with ctrl-c (SIGINT)" if self.hits else "shutting down")
            self.rc = self.shutdown(self.processes()) or self.rc
        finally:
            for s, h in old.items():
                signal.signal(s, h)
        return self.rc

    def processes(self) -> list[Proc]:
        """Every process we hold: the nodes (node-set order), the standbys (as they were started), the player."""
        nodes = [s.proc for s in self.slots if s.proc is not None]
        standbys = sorted((s.standby for s in self.slots if s.standby is not None), key=lambda p: p.started)
        return nodes + standbys + ([self.player] if self.player else [])

    def _supervise(self) -> None:
        ready_deadline = time.monotonic() + self.ready_timeout
        bag_done_at = None
        while not self.stop.is_set():
            now = time.monotonic()
            for slot in self.slots:
                if slot.proc is not None and self._report_exit(slot.proc) and slot.spec.respawn:
                    slot.schedule_respawn(now)
            if self.player is not None:
                self._report_exit(self.player)
            # the node that died first has waited longest
            for slot in sorted((s for s in self.slots if s.respawn_due(now)), key=lambda s: s.respawn_scheduled):
                slot.restart(now)
            if self.standby and not self.stop.is_set():
                for slot in self.slots:
                    slot.tend_standby(now)
            if not any(s.alive() for s in self.slots) and not any(s.respawn_at is not None for s in self.slots):
                log("all nodes have exited")
                return
            if self.player_cmd and self.player is None:
                if all(s.ready() for s in self.slots):
                    self.player = self._start_player()
                    log(f"nodes ready; process started with pid [{self.player.pid}]: {' '.join(self.player_cmd)}")
                elif time.monotonic() > ready_deadline:
                    log(f"nodes not ready after {self.ready_timeout:.0f} s; starting the bag player anyway", "WARNING")
                    ready_deadline = float("inf")
                    self.player = self._start_player()
            if self.exit_with_bag and self.player is not None and self.player.poll() is not None:
                if bag_done_at is None:
                    bag_done_at = time.monotonic()
                    if self.player.poll() != 0:
                        self.rc = self.rc or 1
                elif time.monotonic() - bag_done_at >= self.drain:
                    log("bag finished; shutting down")
                    return
            time.sleep(self.POLL_S)

    def _start_player(self) -> Proc:
        return Proc(f"player-{len(self.slots) + 1}", self.player_cmd, self.env)

    def _report_exit(self, p: Proc) -> bool:
        """Log a process's exit once; True the first time. A node that fails fails the launcher; the player not."""
        code = p.poll()
        if code is None or p.reported:
            return False
        p.reported = True
        if code == 0:
            log(f"process[{p.label}]: process has finished cleanly [pid {p.pid}]")
        else:
            log(
                f"process[{p.label}]: process has died [pid {p.pid}, exit code {code}, cmd '{' '.join(p.cmd)}']",
                "ERROR",
            )
            if p is not self.player:
                self.rc = 1
        return True

    def shutdown(self, procs: list[Proc]) -> int:
        """SIGINT all, then SIGTERM, then SIGKILL (ros2 launch's escalation). Returns 1 if one had to be killed."""
        timeout = self.sigterm_timeout
        alive = [p for p in procs if p.poll() is None]
        for p in alive:
            p.signal(signal.SIGINT)
        rc = 0
        for sig, label in ((signal.SIGTERM, "SIGTERM"), (signal.SIGKILL, "SIGKILL")):
            end = time.monotonic() + timeout
            seen = self.hits
            while time.monotonic() < end and any(p.poll() is None for p in alive):
                if self.hits > seen and self.hits >= 2:  # another Ctrl-C: escalate now
                    break
                time.sleep(0.05)
            left = [p for p in alive if p.poll() is None]
            if not left:
                break
            for p in left:
                log(
                    f"process[{p.label}] failed to terminate {timeout:.0f} s after the previous signal; "
                    f"sending {label}",
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
            if not p.reported:
                p.reported = True
                if code == 0:
                    log(f"process[{p.label}]: process has finished cleanly [pid {p.pid}]")
                else:
                    log(
                        f"process[{p.label}]: process has died [pid {p.pid}, exit code {code}]",
                        "ERROR" if code not in (None, -signal.SIGINT) else "INFO",
                    )
        return rc


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
    return Supervisor(
        specs,
        player_cmd,
        standby=a.standby,
        exit_with_bag=a.exit_with_bag,
        drain=a.drain,
        ready_timeout=a.ready_timeout,
        sigterm_timeout=a.sigterm_timeout,
    ).run()


if __name__ == "__main__":
    sys.exit(main())
