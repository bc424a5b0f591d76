# docs/: the protocol description and man pages (man pages are added by their owners' fragments).
dist_doc_DATA = docs/protocol.md docs/client.md docs/hacking.md docs/python.md
# docs/scaling.md: one server's limits, sharding, cluster changes, the failover design.
dist_doc_DATA += docs/scaling.md
