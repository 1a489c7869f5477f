"""Cameras that cannot talk to each other: the three dsc_ros nodes in three network namespaces.

    sudo .venv/bin/python test/netns/run_isolated.py [--pairs 3] [--frames 5] [--keep DIR]

Builds the namespaces with ``netns.sh up`` (left camera L, right camera R, processing unit P; veth links
L-P and R-P only, no forwarding in P), then runs

    L: dsc_ros.nodes.left_encoder  + a camera process publishing synthetic left images
    R: dsc_ros.nodes.right_encoder + a camera process publishing synthetic right images (same stamp schedule)
    P: dsc_ros.nodes.decoder       + a receiver collecting the decoded pairs and /diagnostics

with Fast DDS over UDPv4 only (an XML profile per namespace: builtin transports off, so shared memory,
which would bypass the links, is never used; initial peers = the other end of the namespace's links, since
multicast discovery does not cross). It checks that every pair decodes with side information (degraded 0),
that L cannot open a TCP connection to R (nor R to L) while P reaches both, that L's ROS graph never sees R's
nodes (nor R's L's), and that the codes crossed the veth links. Everything is removed afterwards, also on
error or Ctrl-C. Prints one JSON summary; exit 0 when every check passed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

ADDR = {"L": "10.231.1.2", "R": "10.231.2.2", "PL": "10.231.1.1", "PR": "10.231.2.1"}
PEERS = {"L": ["127.0.0.1", ADDR["PL"]], "R": ["127.0.0.1", ADDR["PR"]], "P": ["127.0.0.1", ADDR["L"], ADDR["R"]]}
TCP_PORT = 47031

XML = """<?xml version="1.0" encoding="UTF-8" ?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>dsc_udp_only</transport_id>
        <type>UDPv4</type>
        <maxInitialPeersRange>16</maxInitialPeersRange>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="dsc_netns_{ns}" is_default_profile="true">
      <rtps>
        <userTransports><transport_id>dsc_udp_only</transport_id></userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
        <builtin>
          <initialPeersList>
{peers}
          </initialPeersList>
        </builtin>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


def sh(*cmd, check=True, timeout=30) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=timeout)


def netns_available() -> str | None:
    """None if namespaces can be made here, else why not (for a skip message)."""
    if os.geteuid() != 0:
        return "needs root (ip netns add)"
    try:
        r = sh("bash", str(HERE / "netns.sh"), "probe", check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run ip: {e}"
    if r.returncode == 0:
        return None
    return "ip netns add / veth creation not permitted here (no CAP_SYS_ADMIN / CAP_NET_ADMIN?)"


def reap_stale() -> list:
    """Remove dscL_/dscR_/dscP_ namespaces left by a run whose process is gone (a crashed earlier run)."""
    out = sh("ip", "netns", "list", check=False).stdout
    gone = []
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if name[:5] in ("dscL_", "dscR_", "dscP_"):
            rid = name[5:]
            if rid.isdigit() and not Path(f"/proc/{rid}").exists():
                sh("ip", "netns", "del", name, check=False)
                gone.append(name)
    return gone


class Run:
    def __init__(self, a):
        self.a = a
        self.id = str(os.getpid())
        self.ns = {k: f"dsc{k}_{self.id}" for k in ("L", "R", "P")}
        self.dir = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="dsc_netns_"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.procs: list = []
        self.up = False

    # ------------------------------------------------------------------ setup / teardown
    def setup(self) -> None:
        sh("bash", str(HERE / "netns.sh"), "up", self.id)
        self.up = True
        for k in ("L", "R", "P"):
            peers = "\n".join(f"            <locator><udpv4><address>{p}</address></udpv4></locator>" for p in PEERS[k])
            (self.dir / f"fastdds_{k}.xml").write_text(XML.format(ns=k, peers=peers))

    def teardown(self) -> None:
        for p, _log in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 8
        for p, log in self.procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(5)
            log.close()
        if self.up:
            sh("bash", str(HERE / "netns.sh"), "down", self.id, check=False)
            self.up = False

    # ------------------------------------------------------------------ processes
    def env(self, k: str) -> dict:
        env = dict(os.environ)
        for v in ("ROS_STATIC_PEERS", "ROS_LOCALHOST_ONLY", "FASTRTPS_DEFAULT_PROFILES_FILE"):
            env.pop(v, None)
        env.update(
            {
                "ROS_DOMAIN_ID": str(self.a.domain),
                "ROS_AUTOMATIC_DISCOVERY_RANGE": "SYSTEM_DEFAULT",  # rmw leaves the XML profile's discovery alone
                "FASTDDS_DEFAULT_PROFILES_FILE": str(self.dir / f"fastdds_{k}.xml"),
                "FASTDDS_BUILTIN_TRANSPORTS": "UDPv4",  # belt and braces: no SHM even without the XML
                "PYTHONPATH": os.pathsep.join(
                    [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
                ),
                "PYTHONUNBUFFERED": "1",
                "RCUTILS_COLORIZED_OUTPUT": "0",
                "OMP_NUM_THREADS": "1",
            }
        )
        return env

    def start(self, k: str, name: str, argv: list):
        log = open(self.dir / f"{name}.log", "wb")
        cmd = ["ip", "netns", "exec", self.ns[k], "nice", "-n", str(self.a.nice)] + argv
        p = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env(k), cwd=str(ROOT), start_new_session=True
        )
        self.procs.append((p, log))
        return p

    def log(self, name: str) -> str:
        return (self.dir / f"{name}.log").read_text(errors="replace")

    def in_ns(self, k: str, *argv, timeout=10) -> subprocess.CompletedProcess:
        return sh("ip", "netns", "exec", self.ns[k], *argv, check=False, timeout=timeout)

    # ------------------------------------------------------------------ the run
    def run(self) -> dict:
        import ros_helpers as rh
        from dsc_ros.tools import node_set

        t_start = time.monotonic()
        res: dict = {"namespaces": self.ns, "logs": str(self.dir)}
        self.setup()
        res["setup_s"] = round(time.monotonic() - t_start, 2)
        cfg = rh.write_test_config(self.dir, timeout_ms=3000.0)
        import yaml

        doc = yaml.safe_load(cfg.read_text())
        for node in doc.values():
            node["ros__parameters"]["warmup"] = False  # faster start; the first frames simply take longer
            node["ros__parameters"]["diagnostics"]["period_s"] = 0.5
        cfg.write_text(yaml.safe_dump(doc))
        specs = {
            s.name: s for s in node_set.node_specs(str(cfg), "/dsc", "/cam/left/image_raw", "/cam/right/image_raw")
        }
        py = sys.executable
        peers = str(HERE / "peers.py")
        # TCP listeners in both cameras: the reachability probes below connect to them
        for k in ("L", "R"):
            self.start(k, f"tcp_{k}", [py, peers, "tcp-listen", str(TCP_PORT)])
        self.start("L", "left_encoder", specs["left_encoder"].command(py))
        self.start("R", "right_encoder", specs["right_encoder"].command(py))
        self.start("P", "decoder", specs["decoder"].command(py))
        end = time.monotonic() + self.a.ready_timeout
        waiting = ["left_encoder", "right_encoder", "decoder"]
        while waiting and time.monotonic() < end:
            waiting = [n for n in waiting if node_set.READY_MARKER not in self.log(n)]
            dead = [
                n
                for (p, _), n in zip(self.procs[2:], ["left_encoder", "right_encoder", "decoder"])
                if p.poll() is not None
            ]
            if dead:
                raise RuntimeError(f"{dead} exited:\n" + "\n".join(self.log(n)[-2000:] for n in dead))
            time.sleep(0.2)
        if waiting:
            raise RuntimeError(f"not ready after {self.a.ready_timeout} s: {waiting}")
        res["nodes_ready_s"] = round(time.monotonic() - t_start, 2)

        # reachability: cameras cannot reach each other, the processing unit reaches both
        probe = lambda k, host: self.in_ns(k, py, peers, "tcp-connect", host, str(TCP_PORT)).returncode == 0  # noqa: E731
        res["reach"] = {
            "L->R": probe("L", ADDR["R"]),
            "R->L": probe("R", ADDR["L"]),
            "P->L": probe("P", ADDR["L"]),
            "P->R": probe("P", ADDR["R"]),
        }
        res["routes"] = {k: self.in_ns(k, "ip", "-4", "route").stdout.strip().splitlines() for k in ("L", "R")}
        res["p_ip_forward"] = self.in_ns("P", "sysctl", "-n", "net.ipv4.ip_forward").stdout.strip()

        base = 1_900_000_000 * 10**9
        out = {k: self.dir / f"{k}.json" for k in ("left", "right", "receiver")}
        ready = self.dir / "receiver.ready"
        recv = self.start(
            "P",
            "receiver",
            [
                py,
                peers,
                "receiver",
                "--pairs",
                str(self.a.pairs),
                "--timeout",
                str(self.a.timeout),
                "--out",
                str(out["receiver"]),
                "--ready",
                str(ready),
            ],
        )
        end = time.monotonic() + 60
        while not ready.exists() and recv.poll() is None and time.monotonic() < end:
            time.sleep(0.1)
        res["receiver_matched_s"] = float(ready.read_text()) if ready.exists() else None
        cams = [
            self.start(
                "L",
                "left_camera",
                [
                    py,
                    peers,
                    "camera",
                    "--side",
                    "left",
                    "--base",
                    str(base),
                    "-n",
                    str(self.a.frames),
                    "--out",
                    str(out["left"]),
                ],
            ),
            self.start(
                "R",
                "right_camera",
                [
                    py,
                    peers,
                    "camera",
                    "--side",
                    "right",
                    "--base",
                    str(base),
                    "-n",
                    str(self.a.frames),
                    "--out",
                    str(out["right"]),
                ],
            ),
        ]
        t_pub = time.monotonic()
        recv.wait(self.a.timeout + 30)
        for c in cams:
            c.wait(self.a.timeout + 30)
        res["publish_to_done_s"] = round(time.monotonic() - t_pub, 2)
        data = {k: json.loads(v.read_text()) if v.exists() else {} for k, v in out.items()}
        rx = data["receiver"]
        res["pairs_decoded"] = len(rx.get("pairs", []))
        res["stamps_sent"] = {k: len(data[k].get("sent", [])) for k in ("left", "right")}
        res["graph"] = {
            "L": data["left"].get("graph", []),
            "R": data["right"].get("graph", []),
            "P": rx.get("graph", []),
        }
        diag = rx.get("diagnostics", {})
        dr = diag.get("dsc_ros/decoder: right decode", {})
        res["decoder_right"] = {k: dr.get(k) for k in ("frames_in", "frames_out", "degraded", "dropped")}
        dl = diag.get("dsc_ros/decoder: left decode", {})
        res["decoder_left"] = {k: dl.get(k) for k in ("frames_in", "frames_out", "dropped")}
        # shared memory would bypass the links: no node may have a Fast DDS segment mapped
        res["shm_segments"] = {}
        for (proc, _log), name in zip(self.procs[2:5], ["left_encoder", "right_encoder", "decoder"]):
            try:
                maps = Path(f"/proc/{proc.pid}/maps").read_text()
            except OSError:
                maps = ""
            res["shm_segments"][name] = sorted(
                {ln.split()[-1] for ln in maps.splitlines() if "/dev/shm/fastdds" in ln or "/dev/shm/fastrtps" in ln}
            )
        res["link_rx_bytes"] = {}
        for dev in ("camL", "camR"):
            r = self.in_ns("P", "cat", f"/sys/class/net/{dev}/statistics/rx_bytes")
            res["link_rx_bytes"][dev] = int(r.stdout.strip() or 0)
        # ------------------------------------------------------------ verdict
        checks = {
            "pairs_decoded": res["pairs_decoded"] >= self.a.pairs,
            "shapes": all(s == [48, 96, 3] for side in ("left", "right") for s in rx.get("shapes", {}).get(side, [])),
            "not_degraded": dr.get("degraded") == "0" and int(dr.get("frames_out") or 0) >= self.a.pairs,
            "L_cannot_reach_R": not res["reach"]["L->R"] and not res["reach"]["R->L"],
            "P_reaches_both": res["reach"]["P->L"] and res["reach"]["P->R"],
            "no_forwarding_in_P": res["p_ip_forward"] == "0",
            "L_graph_has_no_right_node": not any("right" in n for n in res["graph"]["L"])
            and any("decoder" in n for n in res["graph"]["L"]),
            "R_graph_has_no_left_node": not any("left" in n for n in res["graph"]["R"])
            and any("decoder" in n for n in res["graph"]["R"]),
            "P_graph_has_both": any("left_encoder" in n for n in res["graph"]["P"])
            and any("right_encoder" in n for n in res["graph"]["P"]),
            "codes_crossed_both_links": min(res["link_rx_bytes"].values()) > 10_000
            and int(dl.get("frames_in") or 0) >= self.a.pairs
            and int(dr.get("frames_in") or 0) >= self.a.pairs,
            "no_shared_memory_transport": all(p.poll() is None for p, _ in self.procs[2:5])
            and not any(res["shm_segments"].values()),
        }
        res["checks"] = checks
        res["ok"] = all(checks.values())
        res["total_s"] = round(time.monotonic() - t_start, 2)
        return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3, help="decoded pairs required")
    p.add_argument("--frames", type=int, default=5, help="frames each camera publishes (1 Hz)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds the receiver waits for the pairs")
    p.add_argument("--ready-timeout", type=float, default=150.0)
    p.add_argument("--domain", type=int, default=random.SystemRandom().randint(30, 200))
    p.add_argument("--nice", type=int, default=10)
    p.add_argument("--keep", help="folder for logs, XML profiles and results (default: a temp folder)")
    a = p.parse_args(argv)
    why = netns_available()
    if why:
        print(json.dumps({"ok": False, "skipped": why}))
        return 3
    stale = reap_stale()
    run = Run(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    res = {"ok": False}
    try:
        res = run.run()
    except (Exception, KeyboardInterrupt) as e:
        res = {"ok": False, "error": f"{type(e).__name__}: {e}", "logs": str(run.dir)}
    finally:
        run.teardown()
        for s, h in old.items():
            signal.signal(s, h)
        left = [n for n in sh("ip", "netns", "list", check=False).stdout.split() if n.endswith("_" + run.id)]
        res["cleaned_up"] = not left
        if stale:
            res["reaped_stale"] = stale
    print(json.dumps(res, indent=1, default=str))
    return 0 if res.get("ok") and res.get("cleaned_up") else 1


if __name__ == "__main__":
    sys.exit(main())
