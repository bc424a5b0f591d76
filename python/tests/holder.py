# SPDX-License-Identifier: BSD-2-Clause
"""Child process of the session-death tests: takes lock argv[2] on condd argv[1] (or, with
argv[3] = "sem:VALUE:COUNT", COUNT permits of semaphore argv[2] of value VALUE; with argv[3] =
"barrier:PARTIES", a wait at barrier argv[2], processed by the server before "held" is said; with
argv[3] = "shared", lock argv[2] in shared mode), says
"held" and waits to be killed."""

import asyncio
import sys

import condd


async def main():
    client = await condd.connect(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[3].startswith("sem:"):
        _, value, count = sys.argv[3].split(":")
        sem = condd.Semaphore(client, sys.argv[2], int(value))
        for _ in range(int(count)):
            await sem.acquire()
    elif len(sys.argv) > 3 and sys.argv[3].startswith("barrier:"):
        barrier = condd.Barrier(client, sys.argv[2], int(sys.argv[3].split(":")[1]))
        waiter = asyncio.create_task(barrier.wait())
        while barrier.n_waiting == 0:  # the task writes its BarrierWait in its first step
            await asyncio.sleep(0)
        await client.ping()  # one connection keeps order: the wait is queued on the server
    else:
        shared = len(sys.argv) > 3 and sys.argv[3] == "shared"
        await condd.Lock(client, sys.argv[2], shared=shared).acquire()
    print("held", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
