#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# condd's documentation agrees with condd: no doc still says TLS or authentication are missing.
. "$(dirname "$0")/condctl-lib.sh"

note "no doc says TLS or authentication are still missing"
for f in "$top_srcdir"/docs/*.md "$top_srcdir"/docs/*.[18] "$top_srcdir"/README.md; do
    if grep -n -i -E "no authentication|no encryption|until TLS|TLS is not (yet )?(available|supported)|authentication is not" "$f"; then
        fail "$f says TLS or authentication are missing (they are not: condd(8), TLS, AUTH FILE)"
    fi
done

note "ok"
