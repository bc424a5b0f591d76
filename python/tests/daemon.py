# SPDX-License-Identifier: BSD-2-Clause
"""Test helpers: a condd on an ephemeral loopback port (started with --port-file, killed and
reaped at the end), several in one cluster (cluster()), and polling with a deadline instead of
sleeping. Needs $CONDD."""

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time


class Daemon:
    """listen_socket: a bound, listening socket the daemon takes over as systemd would hand
    it (LISTEN_FDS), for a port that must be known before it starts (cluster()); the caller
    closes its own copy afterwards."""

    def __init__(self, *args, listen_socket=None):
        self.dir = tempfile.mkdtemp(prefix="condd-py-test.")
        port_file = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "condd.log"), "w")
        cmd = [os.environ["CONDD"], "--port-file", port_file, "--log-level", "warning", *args]
        fds = ()
        if listen_socket is None:
            cmd[1:1] = ["--listen", "127.0.0.1:0"]
        else:
            # the socket becomes fd 3 and LISTEN_PID the daemon's pid (exec keeps the shell's)
            fds = (listen_socket.fileno(),)
            cmd = ["/bin/sh", "-c", 'eval "exec 3<&$0"; unset LISTEN_FDNAMES NOTIFY_SOCKET; '
                   'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@"', str(fds[0])] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log, pass_fds=fds)
        deadline = time.monotonic() + 20
        while True:
            try:
                with open(port_file) as f:
                    text = f.read().strip()
                if text.isdigit():
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("condd did not start")
            time.sleep(0.02)
        self.address = "127.0.0.1:" + text

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def stop(self):
        self.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

class DaemonPerClass:
    """A mixin for unittest test cases (listed before the TestCase class): one condd for the
    whole class as cls.daemon, started with the class's daemon_args before its first test and
    stopped after its last (a class cleanup, so after any tearDownClass)."""

    daemon_args = ()

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.daemon = Daemon(*cls.daemon_args)
        cls.addClassCleanup(cls.daemon.stop)



def cluster(n, *args):
    """n daemons started with --cluster LIST --cluster-self ADDR (protocol.md §21.5) and args:
    the ports are bound here first and handed over, so LIST names them before any starts and
    none is ever released and bound again. Stop each with stop()."""
    socks, daemons = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", 0))
            s.listen(128)
        addrs = ["127.0.0.1:%d" % s.getsockname()[1] for s in socks]
        for s, a in zip(socks, addrs):
            daemons.append(Daemon("--cluster", ",".join(addrs), "--cluster-self", a, *args,
                                  listen_socket=s))
            if daemons[-1].address != a:
                raise RuntimeError("condd listens on %s, not %s" % (daemons[-1].address, a))
    except BaseException:
        for d in daemons:
            d.stop()
        raise
    finally:
        for s in socks:
            s.close()
    return daemons


async def until(predicate, timeout=10.0, what="condition"):
    """Polls the async predicate every 10 ms until it is true; AssertionError after timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.01)


async def listing(client, name):
    """The server's List entries named exactly name: (LockInfo, ConditionInfo, SemaphoreInfo,
    EventInfo), None where absent. The tests' stand-in for asyncio's private `_waiters`."""
    req = client._request("list")
    req.list.prefix = name.encode("utf-8")
    resp = await client._call(req)
    client._check(resp)
    want = name.encode("utf-8")
    found = []
    for entries in (resp.list.locks, resp.list.conditions, resp.list.semaphores,
                    resp.list.events):
        found.append(next((e for e in entries if e.name == want), None))
    return tuple(found)


async def sem_waiters(client, name):
    """SemAcquires queued on semaphore name (0 if it does not exist)."""
    info = (await listing(client, name))[2]
    return 0 if info is None else info.waiters


class Proxy:
    """tests/blipproxy in front of a condd port: breaks connections on command (drop, reset,
    stall, flow, refuse, accept; tests/blipproxy.c). Needs $BLIPPROXY, else finds it beside
    $CONDD in the build tree."""

    def __init__(self, target_address):
        path = os.environ.get("BLIPPROXY") or os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(os.environ["CONDD"]))), "tests",
            "blipproxy")
        self.dir = tempfile.mkdtemp(prefix="condd-py-proxy.")
        port_file = os.path.join(self.dir, "ports")
        port = target_address.rsplit(":", 1)[1]
        self.proc = subprocess.Popen([path, port, port_file], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                with open(port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("blipproxy did not start")
            time.sleep(0.02)
        listen, control = text.split()
        self.address = "127.0.0.1:" + listen
        self.control = int(control)

    async def cmd(self, command):
        """Sends one control command; its answer once it has taken effect."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.control)
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            answer = (await reader.readline()).decode().strip()
        finally:
            writer.close()
            await writer.wait_closed()
        if answer.startswith("error"):
            raise RuntimeError("blipproxy %s: %s" % (command, answer))
        return answer

    def cmd_blocking(self, command):
        """cmd() without the event loop: the loop's callbacks do not run meanwhile."""
        import socket
        with socket.create_connection(("127.0.0.1", self.control), timeout=20) as s:
            s.sendall(command.encode() + b"\n")
            answer = s.makefile().readline().strip()
        if answer.startswith("error"):
            raise RuntimeError("blipproxy %s: %s" % (command, answer))
        return answer

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
