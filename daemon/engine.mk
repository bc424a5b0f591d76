# daemon/engine*.c: the lock and condition engine (engine.h), part of the daemon core.
daemon_libconddcore_la_SOURCES += daemon/engine.c daemon/engine_lock.c daemon/engine_cond.c \
	daemon/engine_name.c daemon/engine_internal.h
