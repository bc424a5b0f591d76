# daemon/table.c: the incremental-rehash hash table, part of the daemon core.
daemon_libconddcore_la_SOURCES += daemon/table.c
