# SPDX-License-Identifier: BSD-2-Clause
"""Generates condd/condd_pb2.py with protoc before setuptools copies the package (pip install).
The schema is ../proto/condd.proto of the source tree, or the file named by $CONDD_PROTO;
protoc comes from $PROTOC or PATH (Debian: protobuf-compiler)."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithProto(build_py):
    def run(self):
        proto = os.environ.get("CONDD_PROTO") or os.path.join(HERE, "..", "proto", "condd.proto")
        out = os.path.join(HERE, "condd")
        protoc = os.environ.get("PROTOC") or shutil.which("protoc")
        if not os.path.exists(os.path.join(out, "condd_pb2.py")):
            if protoc is None:
                raise SystemExit("condd: protoc not found (Debian: apt-get install protobuf-compiler)")
            if not os.path.exists(proto):
                raise SystemExit("condd: %s not found; set CONDD_PROTO to condd.proto" % proto)
            subprocess.check_call([protoc, "--proto_path=" + os.path.dirname(os.path.abspath(proto)),
                                   "--python_out=" + out, os.path.abspath(proto)])
        super().run()


setup(cmdclass={"build_py": BuildWithProto})
