#!/usr/bin/env bash
# Three network namespaces for "cameras that cannot talk to each other":
#
#     dscL_<id> (left camera)            dscP_<id> (processing unit)            dscR_<id> (right camera)
#     cam0 10.231.1.2/24  <== veth ==>  camL 10.231.1.1/24
#                                       camR 10.231.2.1/24  <== veth ==>  cam0 10.231.2.2/24
#
# The cameras have no route but their own /24 and a host route to P's other address (no default route), and
# the processing unit does not forward (net.ipv4.ip_forward=0, conf.all.forwarding=0), so L and R cannot
# reach each other while P reaches both.
# Nothing is connected to the root namespace: no traffic leaves these namespaces.
#
#   netns.sh up ID       create (fails if they exist)
#   netns.sh down ID     remove (idempotent; removing a namespace removes its veth ends)
#   netns.sh probe       exit 0 if this machine lets us create a namespace (root + CAP_SYS_ADMIN), else 1
set -euo pipefail

cmd=${1:?usage: netns.sh up|down ID | probe}
id=${2:-}
L=dscL_$id R=dscR_$id P=dscP_$id

case "$cmd" in
  probe)
    n=dscprobe_$$
    ip netns add "$n" 2>/dev/null || exit 1
    ip -n "$n" link add a0 type veth peer name a1 2>/dev/null || { ip netns del "$n"; exit 1; }
    ip netns del "$n"
    ;;
  up)
    [ -n "$id" ] || { echo "netns.sh up needs an ID" >&2; exit 2; }
    ip netns add "$L"; ip netns add "$R"; ip netns add "$P"
    for ns in "$L" "$R" "$P"; do ip -n "$ns" link set lo up; done
    # veth pairs created inside the camera namespaces, peer end moved straight into P (never in the root ns)
    ip -n "$L" link add cam0 type veth peer name camL netns "$P"
    ip -n "$R" link add cam0 type veth peer name camR netns "$P"
    ip -n "$L" addr add 10.231.1.2/24 dev cam0
    ip -n "$R" addr add 10.231.2.2/24 dev cam0
    ip -n "$P" addr add 10.231.1.1/24 dev camL
    ip -n "$P" addr add 10.231.2.1/24 dev camR
    for x in "$L cam0" "$R cam0" "$P camL" "$P camR"; do set -- $x; ip -n "$1" link set "$2" up; done
    # P announces both of its addresses to DDS peers and a peer may pick either: each camera gets a host
    # route to P's *other* address through its own link. That is still P itself (local delivery, no
    # forwarding), never the other camera: L has no route to 10.231.2.2, R none to 10.231.1.2.
    ip -n "$L" route add 10.231.2.1/32 via 10.231.1.1 dev cam0
    ip -n "$R" route add 10.231.1.1/32 via 10.231.2.1 dev cam0
    ip netns exec "$P" sysctl -qw net.ipv4.ip_forward=0
    ip netns exec "$P" sysctl -qw net.ipv4.conf.all.forwarding=0
    ;;
  down)
    [ -n "$id" ] || { echo "netns.sh down needs an ID" >&2; exit 2; }
    for ns in "$L" "$R" "$P"; do ip netns del "$ns" 2>/dev/null || true; done
    ;;
  *)
    echo "usage: netns.sh up|down ID | probe" >&2; exit 2 ;;
esac
