#!/usr/bin/env bash
# A self-contained demo: sets the machine up, makes its own network namespace and
# veth pair, sends traffic from a few sources at different rates, shows what
# xdpwatch sees, and removes everything again. Touches no real interface.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

ns=xwdemo
host=xwdemo0
peer=xwdemo1
cleanup() {
  [ -n "${traffic_pid:-}" ] && kill "$traffic_pid" 2>/dev/null || true
  dist/xdpwatch detach --iface "$host" --quiet 2>/dev/null || true
  ip link del "$host" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup

ip netns add "$ns"
ip link add "$host" type veth peer name "$peer" netns "$ns"
sysctl -qw "net.ipv6.conf.$host.disable_ipv6=1"
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
ip link set "$host" up
ip -n "$ns" link set "$peer" up

echo "== xdpwatch doctor --iface $host   (is this machine ready?)"
dist/xdpwatch doctor --iface "$host"

ip netns exec "$ns" python3 scripts/demo-traffic.py "$peer" 12 &
traffic_pid=$!

echo "== xdpwatch top --iface $host --duration 5   (who sends the most?)"
dist/xdpwatch top --iface "$host" --duration 5 --interval 1
echo "== xdpwatch watch --iface $host --count 15   (one line per packet)"
dist/xdpwatch watch --iface "$host" --count 15
echo "== xdpwatch watch --iface $host --json --count 3   (NDJSON for scripts)"
dist/xdpwatch watch --iface "$host" --json --count 3
