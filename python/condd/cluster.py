# SPDX-License-Identifier: BSD-2-Clause
"""Several servers (protocol.md §21): a Cluster is what connect() returns for a server list. It
routes every name by the one rule of route.py and keeps one session (a client.Client) per
server, opened lazily the first time a name routes there; each has its own grace, resume and
on_session reports, so a failure of one server fails only what is routed to it, and a session
that was lost is replaced by a new one on the next use. The primitives (locks.py) take a
Cluster wherever they take a Client. List and Stats go to one server or fan out to all."""

import asyncio
import collections

from .client import Client
from .errors import ConnectionLost

# One row of a fanned-out List: the server it came from, its kind ("lock", "condition",
# "semaphore", "event", "barrier") and the server's entry (a condd_pb2 LockInfo, ...).
ListRow = collections.namedtuple("ListRow", "server kind info")

_KINDS = (("lock", "locks"), ("condition", "conditions"), ("semaphore", "semaphores"),
          ("event", "events"), ("barrier", "barriers"))


class ClusterList:
    """What Cluster.list() without a server returns: `rows`, every server's entries as
    ListRows in list order; `truncated`, the servers that had more to list than they sent;
    `errors`, {server: exception} for the servers that could not answer."""

    def __init__(self):
        self.rows = []
        self.truncated = []
        self.errors = {}

    def __repr__(self):
        return "<condd.ClusterList rows=%d truncated=%s errors=%s>" % (
            len(self.rows), self.truncated, sorted(self.errors))


class Cluster:
    """Sessions with the servers of a list. Create with `await condd.connect("a,b,c")`;
    close with `await close()` or `async with`. Give it to Lock, Condition, ... as a Client.
    `servers` is the parsed list (route.ServerList), `address` the list as given."""

    def __init__(self, servers, **options):
        self.servers = servers
        self.address = ",".join(servers.addresses)
        self._options = options  # for Client._lazy: client_name, grace, token, ...
        self._sessions = [None] * len(servers)
        self._closed = False

    def __repr__(self):
        opened = sum(s is not None and s._lost is None for s in self._sessions)
        return "<condd.Cluster %s open=%d%s>" % (self.address, opened,
                                                  " closed" if self._closed else "")

    # ------------------------------------------------------------ public

    def server_for(self, name):
        """The server name (str or bytes) goes to: its canonical identity (§21.1). For a
        Condition, ask for its lock's name (cond.server says it too)."""
        return self.servers.server_for(name)

    def session(self, server):
        """The Client of server (an address or identity in the list; ValueError otherwise),
        opening its connection if none is open. Its session_id, grace, session_state, ..."""
        return self._session_at(self._index(server))

    @property
    def sessions(self):
        """{server: Client} of the sessions opened so far (and not lost), in list order."""
        return {self.servers.identities[i]: s for i, s in enumerate(self._sessions)
                if s is not None and s._lost is None}

    @property
    def closed(self):
        """True once close() was called."""
        return self._closed

    async def ping(self, server=None):
        """One round trip with server, or with every server of the list (opening their
        connections): what was sent before it has been processed when it returns. Raises
        the first failure (its .server names the server)."""
        await self._each(server, Client.ping)

    async def stats(self, server=None):
        """server's Stats (a condd_pb2.StatsResult); without a server, {server: StatsResult}
        for every server of the list, where a server that could not answer has the exception
        (ConnectionLost, ...) instead."""
        if server is not None:
            return await self.session(server).stats()
        return dict(await self._fan_out(Client.stats))

    async def list(self, prefix="", limit=0, server=None):
        """server's List (a condd_pb2.ListResult); without a server, every server's in one
        ClusterList (each row marked with its server)."""
        if server is not None:
            return await self.session(server).list(prefix, limit)
        out = ClusterList()
        for ident, result in await self._fan_out(lambda s: s.list(prefix, limit)):
            if isinstance(result, BaseException):
                out.errors[ident] = result
                continue
            for kind, field in _KINDS:
                out.rows.extend(ListRow(ident, kind, e) for e in getattr(result, field))
            if result.truncated:
                out.truncated.append(ident)
        return out

    async def close(self):
        """Ends every session (each says Goodbye, as Client.close()). Idempotent."""
        self._closed = True
        await asyncio.gather(*(s.close() for s in self._sessions if s is not None))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # ------------------------------------------------------------ for the primitives

    def _route_of(self, wire_name):
        return self.servers.pick(wire_name)

    def _server_at(self, route):
        return self.servers.identities[route]

    def _session_at(self, route):
        """The session of the server at route: opened now if there is none, or a new one if
        the last was lost (not after close(): then the closed one, which refuses requests)."""
        s = self._sessions[route]
        if s is not None and (s._lost is None or self._closed):
            return s
        if self._closed:  # never opened, and never will be
            s = Client(None, None, self.servers.addresses[route])
            s.server = self.servers.identities[route]
            s._closing = True
            s._lose(ConnectionLost("client closed"))
        else:
            s = Client._lazy(self.servers.addresses[route], self.servers.identities[route],
                             **self._options)
        self._sessions[route] = s
        return s

    # ------------------------------------------------------------ inside

    def _index(self, server):
        i = self.servers.find(server)
        if i < 0:
            raise ValueError("%r is not a server of %s" % (server, self.address))
        return i

    async def _each(self, server, call):
        if server is not None:
            return await call(self.session(server))
        await asyncio.gather(*(call(self._session_at(i)) for i in range(len(self.servers))))

    async def _fan_out(self, call):
        """[(server, result or exception)] of call(session) on every server, in list order."""
        results = await asyncio.gather(
            *(call(self._session_at(i)) for i in range(len(self.servers))),
            return_exceptions=True)
        for r in results:  # not a failure of one server: the caller's cancellation
            if isinstance(r, asyncio.CancelledError):
                raise r
        return list(zip(self.servers.identities, results))
