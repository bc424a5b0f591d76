# SPDX-License-Identifier: BSD-2-Clause
"""Child process of the session-death test: takes lock argv[2] on condd argv[1], says "held"
and waits to be killed."""

import asyncio
import sys

import condd


async def main():
    client = await condd.connect(sys.argv[1])
    await condd.Lock(client, sys.argv[2]).acquire()
    print("held", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
