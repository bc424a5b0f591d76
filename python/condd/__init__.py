# SPDX-License-Identifier: BSD-2-Clause
"""condd for Python: an asyncio client whose Lock, Condition, Event, Semaphore,
BoundedSemaphore and Barrier are drop-in twins of asyncio's, with their state in a condd
server. See docs/python.md.

    async with await condd.connect() as client:
        async with condd.Lock(client, "jobs") as lock: ...
"""

# Uninstalled (make check), the generated condd_pb2 sits in the build tree's python/condd/ and
# the sources in the source tree's: let the package span both.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

from .client import Client, connect, parse_address  # noqa: E402
from .cluster import Cluster, ClusterList, ListRow  # noqa: E402
from .errors import (  # noqa: E402
    AlreadyOwner, BadRequest, BrokenBarrierError, Cancelled, CondDError, ConnectionLost,
    InternalError, LimitExceeded, LockMismatch, NotFound, NotOwner, PermissionDenied,
    ProtocolError, ResumeFailed, SessionKilled, SessionLost, ShuttingDown, Timeout,
    Unauthenticated, Unimplemented, UnsupportedVersion, ValueMismatch, WrongServer)
from .errors import ServerTimeout  # noqa: E402
from .locks import (  # noqa: E402
    Barrier, BarrierState, BoundedSemaphore, Condition, Event, Lock,
    Semaphore)

__version__ = "0.1.0"

__all__ = [
    "connect", "Client", "parse_address", "Lock", "Condition", "Event", "Semaphore",
    "BoundedSemaphore", "Barrier", "BarrierState",
    "CondDError", "ConnectionLost", "Timeout", "Cancelled", "NotOwner", "AlreadyOwner",
    "LockMismatch", "BadRequest", "LimitExceeded", "UnsupportedVersion", "ShuttingDown",
    "NotFound", "ProtocolError", "Unimplemented", "InternalError", "ValueMismatch",
    "BrokenBarrierError", "Unauthenticated", "PermissionDenied", "SessionLost", "ResumeFailed",
    "SessionKilled", "Cluster", "ClusterList", "ListRow", "WrongServer",
]
__all__ += ["ServerTimeout"]
