# examples/: rules for this part of the tree (fragment of the top-level Makefile.am).
