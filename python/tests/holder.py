# SPDX-License-Identifier: BSD-2-Clause
"""Child process of the session-death tests: takes lock argv[2] on condd argv[1] (or, with
argv[3] = "sem:VALUE:COUNT", COUNT permits of semaphore argv[2] of value VALUE), says "held" and
waits to be killed."""

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
    else:
        await condd.Lock(client, sys.argv[2]).acquire()
    print("held", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
