#!/usr/bin/env python3
"""Send hand-made Ethernet frames out of an interface through an AF_PACKET socket.

Reads one frame per line as hex on stdin and sends each once. Used from
inside the test network namespace; needs root (CAP_NET_RAW).
"""
import socket
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: send_frames.py IFACE < frames.hex", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((sys.argv[1], 0))
    sent = 0
    for line in sys.stdin:
        line = line.strip()
        if line:
            sock.send(bytes.fromhex(line))
            sent += 1
    print(sent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
