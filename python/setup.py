# SPDX-License-Identifier: BSD-2-Clause
"""Generates condd/condd_pb2.py with protoc while setuptools builds the package (pip install).
The schema is ../proto/condd.proto of the source tree, or the file named by $CONDD_PROTO;
protoc comes from $PROTOC or PATH (Debian: protobuf-compiler).

The module is generated on every build, into setuptools' build directory (build_lib), never
into the source tree: a copy left there would go stale when condd.proto changes, and would
shadow the build tree's on tests/python.sh's PYTHONPATH. Only a tree without the schema (an
unpacked sdist that ships condd_pb2.py) builds from the copy it has."""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithProto(build_py):
    def run(self):
        super().run()
        proto = os.environ.get("CONDD_PROTO") or os.path.join(HERE, "..", "proto", "condd.proto")
        shipped = os.path.exists(os.path.join(HERE, "condd", "condd_pb2.py"))
        if not os.path.exists(proto):
            if shipped:
                return  # copied by build_py
            raise SystemExit("condd: %s not found; set CONDD_PROTO to condd.proto" % proto)
        protoc = os.environ.get("PROTOC") or shutil.which("protoc")
        if protoc is None:
            raise SystemExit("condd: protoc not found (Debian: apt-get install protobuf-compiler)")
        out = os.path.join(self.build_lib, "condd")
        os.makedirs(out, exist_ok=True)
        subprocess.check_call([protoc, "--proto_path=" + os.path.dirname(os.path.abspath(proto)),
                               "--python_out=" + out, os.path.abspath(proto)])


setup(cmdclass={"build_py": BuildWithProto})
