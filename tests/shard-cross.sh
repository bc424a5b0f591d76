#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# shard-cross.sh: the same name reaches the same server from Python, C (tests/shard_cross_hold,
# on libcondd), condctl and a reference implementation of protocol.md §21.2 written from the
# text, against three condd started with --cluster on ephemeral loopback ports. A few hundred
# names, most of them not ASCII, are held from one language and must be held on their daemon
# only (its own List), seen held through the list from another language, and refused
# WRONG_SERVER by the other daemons; a client with a different list gets WRONG_SERVER naming the
# right server; every daemon counts exactly the refusals provoked on it. The work is in
# tests/shard-cross.py (see its docstring).

set -u
: "${CONDD:?CONDD must name the condd binary}"
: "${CONDCTL:?CONDCTL must name the condctl binary}"
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
build=${top_builddir:-.}
unset CONDD_SERVER CONDD_TOKEN_FILE
PYTHONPATH="$src/python:$build/python"
PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH PYTHONDONTWRITEBYTECODE
SHARD_CROSS_HOLD=${SHARD_CROSS_HOLD:-$build/tests/shard_cross_hold}
# shellcheck disable=SC2086
exec "${PYTHON:-python3}" "$src/tests/shard-cross.py" --condd "$CONDD" --condctl "$CONDCTL" \
    --c-holder "$SHARD_CROSS_HOLD" ${SHARD_CROSS_ARGS:-}
