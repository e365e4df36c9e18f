#!/usr/bin/env python3
"""Demo traffic: a few sources in 198.18.0.0/15 sending UDP at different rates.

usage: demo-traffic.py IFACE SECONDS
Runs inside the demo's own network namespace (see scripts/demo.sh).
"""
import socket
import struct
import sys
import time

# (source, packets per second, destination port)
SOURCES = [
    ("198.18.1.10", 400, 53),
    ("198.18.1.20", 200, 443),
    ("198.18.2.30", 100, 123),
    ("198.18.2.40", 50, 80),
    ("198.18.3.50", 10, 22),
]


def frame(src: str, dport: int) -> bytes:
    eth = bytes.fromhex("020000000002" "020000000001") + b"\x08\x00"
    payload = b"xdpwatch demo"
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton("198.18.0.254"))
    return eth + ip + udp


def main() -> int:
    iface, seconds = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((iface, 0))
    frames = [(frame(src, port), rate) for src, rate, port in SOURCES]
    start = time.monotonic()
    sent = [0] * len(frames)
    while (elapsed := time.monotonic() - start) < seconds:
        for i, (data, rate) in enumerate(frames):
            while sent[i] < rate * elapsed:
                sock.send(data)
                sent[i] += 1
        time.sleep(0.005)
    return 0


if __name__ == "__main__":
    sys.exit(main())
