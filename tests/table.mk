# tests/: the hash table suite (daemon/table.c), linked against the daemon core library.

check_PROGRAMS += tests/check_table
tests_check_table_SOURCES = tests/check_table.c
tests_check_table_CFLAGS = $(TEST_CFLAGS) $(SODIUM_CFLAGS)
tests_check_table_LDADD = daemon/libconddcore.la $(CHECK_LIBS)

TESTS += tests/check_table
