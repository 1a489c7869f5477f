"""Small ROS programs run inside the namespaces by run_isolated.py (one process each):

    python peers.py camera --side left --stamps BASE_NS N --out FILE     publish N synthetic images
    python peers.py receiver --pairs N --timeout S --out FILE            collect decoded pairs in P
    python peers.py tcp-listen PORT                                      accept connections until killed
    python peers.py tcp-connect HOST PORT                                exit 0 if a TCP connection opens

The two cameras share nothing but the stamp schedule on their command lines (like a hardware trigger):
frame i is stamped BASE_NS + i * 100 ms on both sides. Each writes what it saw as JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))

NS = "/dsc"


def _node(name):
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    return rclpy.create_node(name)


def camera(a) -> int:
    import rclpy
    from sensor_msgs.msg import Image

    import ros_helpers as rh
    from dsc_ros.nodes.params import qos_profile

    node = _node(f"{a.side}_camera")
    topic = f"/cam/{a.side}/image_raw"
    pub = node.create_publisher(Image, topic, qos_profile("reliable", 20))
    t0 = time.monotonic()
    while pub.get_subscription_count() < 1 and time.monotonic() - t0 < a.match_timeout:
        rclpy.spin_once(node, timeout_sec=0.1)
    matched_s = time.monotonic() - t0
    sent = []
    if pub.get_subscription_count() >= 1:
        for i in range(a.n):
            left, right = rh.synthetic_pair(a.h, a.w, seed=i)
            st = a.base + i * 100_000_000
            pub.publish(rh.image_msg(left if a.side == "left" else right, "rgb8", st, f"cam_{a.side}"))
            sent.append(st)
            end = time.monotonic() + a.period
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.05)
    # what this camera's namespace can see of the ROS graph (the other camera must not be in it)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    nodes = sorted(f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces())
    Path(a.out).write_text(
        json.dumps({"side": a.side, "matched_after_s": round(matched_s, 2), "sent": sent, "graph": nodes})
    )
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if sent else 1


def receiver(a) -> int:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image

    from dsc_ros.nodes.params import qos_profile
    from dsc_ros.wire import image_to_numpy, stamp_to_ns

    node = _node("p_receiver")
    got = {"left": {}, "right": {}}
    diag = {}

    def on_img(side, m):
        arr = image_to_numpy(m)[0]
        got[side][stamp_to_ns(m.header.stamp)] = {
            "shape": list(arr.shape),
            "mean": float(arr.mean()),
            "t": time.monotonic(),
        }

    def on_diag(arr):
        for s in arr.status:
            diag[s.name] = {kv.key: kv.value for kv in s.values}

    subs = [
        node.create_subscription(
            Image, f"{NS}/{side}/image_decoded", lambda m, s=side: on_img(s, m), qos_profile("reliable", 50)
        )
        for side in ("left", "right")
    ]
    node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, qos_profile("reliable", 50))
    # Matched with the decoder's publishers before the cameras start: the outputs are volatile, and a
    # receiver still discovering the decoder (slow on a loaded machine) would miss the first pairs.
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.timeout and min(s.get_publisher_count() for s in subs) < 1:
        rclpy.spin_once(node, timeout_sec=0.1)
    if a.ready:
        Path(a.ready).write_text(str(round(time.monotonic() - t0, 2)))
    t0 = time.monotonic()
    while time.monotonic() - t0 < a.timeout:
        rclpy.spin_once(node, timeout_sec=0.1)
        if len(set(got["left"]) & set(got["right"])) >= a.pairs:
            end = time.monotonic() + 1.5  # one more diagnostics period
            while time.monotonic() < end:
                rclpy.spin_once(node, timeout_sec=0.1)
            break
    nodes = sorted(f"{ns.rstrip('/')}/{n}" for n, ns in node.get_node_names_and_namespaces())
    pairs = sorted(set(got["left"]) & set(got["right"]))
    Path(a.out).write_text(
        json.dumps(
            {
                "pairs": pairs,
                "left": sorted(got["left"]),
                "right": sorted(got["right"]),
                "shapes": {s: [got[s][k]["shape"] for k in pairs] for s in got},
                "diagnostics": diag,
                "graph": nodes,
                "elapsed_s": round(time.monotonic() - t0, 2),
            }
        )
    )
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if len(pairs) >= a.pairs else 1


def tcp_listen(a) -> int:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", a.port))
    s.listen(8)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.close()


def tcp_connect(a) -> int:
    try:
        with socket.create_connection((a.host, a.port), timeout=a.timeout):
            print("connected")
            return 0
    except OSError as e:
        print(f"refused: {type(e).__name__}: {e}")
        return 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("camera")
    c.add_argument("--side", choices=("left", "right"), required=True)
    c.add_argument("--base", type=int, required=True, help="stamp of frame 0 (ns)")
    c.add_argument("-n", type=int, default=4)
    c.add_argument("--h", type=int, default=48)
    c.add_argument("--w", type=int, default=96)
    c.add_argument("--period", type=float, default=1.0)
    c.add_argument("--match-timeout", type=float, default=90.0)
    c.add_argument("--out", required=True)
    r = sub.add_parser("receiver")
    r.add_argument("--ready", default=None, help="file written once matched with the decoder's outputs")
    r.add_argument("--pairs", type=int, default=3)
    r.add_argument("--timeout", type=float, default=90.0)
    r.add_argument("--out", required=True)
    t = sub.add_parser("tcp-listen")
    t.add_argument("port", type=int)
    t = sub.add_parser("tcp-connect")
    t.add_argument("host")
    t.add_argument("port", type=int)
    t.add_argument("--timeout", type=float, default=2.0)
    a = p.parse_args(argv)
    return {"camera": camera, "receiver": receiver, "tcp-listen": tcp_listen, "tcp-connect": tcp_connect}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
