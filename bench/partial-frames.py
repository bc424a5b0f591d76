#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""What partial frames cost the daemon: N connections each send a frame header announcing
SIZE bytes plus one byte, then one more byte in a second write (so the daemon keeps a partial
frame across reads), and the daemon's RSS is compared before and after.

Usage: bench/partial-frames.py CONDD [N=5000] [SIZE=5000]
Loopback only; the daemon it starts is killed at the end."""
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time


def main():
    condd = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    resource.setrlimit(resource.RLIMIT_NOFILE, (n + 1000, n + 1000))
    tmp = tempfile.mkdtemp()
    port_file = os.path.join(tmp, "port")
    p = subprocess.Popen([condd, "--listen", "127.0.0.1:0", "--port-file", port_file,
                          "--max-connections", str(n + 100), "--log-level", "error"])
    try:
        deadline = time.monotonic() + 20
        while not (os.path.exists(port_file) and open(port_file).read().strip()):
            if time.monotonic() > deadline:
                sys.exit("condd did not start")
            time.sleep(0.05)
        port = int(open(port_file).read())

        def rss_kb():
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS"):
                        return int(line.split()[1])
            return 0

        before = rss_kb()
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(struct.pack(">I", size) + b"\x08")
            socks.append(s)
        for s in socks:
            s.sendall(b"\x01")
        # A measurement, not a test: let the daemon read the last writes before sampling.
        time.sleep(1.0)
        after = rss_kb()
        print(f"{n} connections x 6 bytes of a {size}-byte frame: RSS {before} kB -> {after} kB, "
              f"{(after - before) * 1024 / n:.0f} bytes per connection")
    finally:
        p.kill()
        p.wait()


if __name__ == "__main__":
    main()
