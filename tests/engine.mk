# tests/: the engine's suites (locks, conditions, randomized model check), driven without sockets.
# engine_fixture.c is compiled into each of them.

ENGINE_TEST_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
ENGINE_TEST_LDADD = daemon/libconddcore.la $(LIBEVENT_CORE_LIBS) $(CHECK_LIBS)
ENGINE_FIXTURE = tests/engine_fixture.c tests/engine_fixture.h

check_PROGRAMS += tests/check_lock tests/check_cond tests/check_engine_random
TESTS += tests/check_lock tests/check_cond tests/check_engine_random

tests_check_lock_SOURCES = tests/check_lock.c $(ENGINE_FIXTURE)
tests_check_lock_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_lock_LDADD = $(ENGINE_TEST_LDADD)

tests_check_cond_SOURCES = tests/check_cond.c $(ENGINE_FIXTURE)
tests_check_cond_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_cond_LDADD = $(ENGINE_TEST_LDADD)

tests_check_engine_random_SOURCES = tests/check_engine_random.c $(ENGINE_FIXTURE)
tests_check_engine_random_CFLAGS = $(ENGINE_TEST_CFLAGS)
tests_check_engine_random_LDADD = $(ENGINE_TEST_LDADD)
