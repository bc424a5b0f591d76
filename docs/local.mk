# docs/: the protocol description and man pages (man pages are added by their owners' fragments).
EXTRA_DIST += docs/protocol.md
dist_doc_DATA = docs/protocol.md
