# SPDX-License-Identifier: BSD-2-Clause
"""`pip install ./python` (python/setup.py): condd_pb2.py is generated from condd.proto on every
build, into setuptools' build directory, so a stale copy never ships and none is written into
the source tree (where it would shadow the build tree's on tests/python.sh's PYTHONPATH). Runs
setup.py's build_py on a copy of python/ (offline; protoc from $PROTOC or PATH)."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)  # python/
PROTO = os.path.join(os.path.dirname(SRC), "proto", "condd.proto")


def python():
    return os.environ.get("PYTHON") or sys.executable


class SetupTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="condd-py-setup.")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.src = os.path.join(self.dir, "python")
        shutil.copytree(SRC, self.src, ignore=shutil.ignore_patterns(
            "tests", "bench", "build", "*.egg-info", "__pycache__", "condd_pb2.py"))
        for d, _, files in os.walk(self.src):  # (distcheck's source tree is read-only)
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        self.build = os.path.join(self.dir, "build")

    def build_py(self):
        env = dict(os.environ, CONDD_PROTO=PROTO, PYTHONDONTWRITEBYTECODE="1")
        subprocess.run([python(), "setup.py", "-q", "build_py", "--build-lib", self.build],
                       cwd=self.src, env=env, check=True, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with open(os.path.join(self.build, "condd", "condd_pb2.py")) as f:
            return f.read()

    def test_generated_into_the_build_directory_not_the_source_tree(self):
        text = self.build_py()
        self.assertIn("condd.proto", text)
        self.assertFalse(os.path.exists(os.path.join(self.src, "condd", "condd_pb2.py")))

    def test_a_stale_copy_in_the_source_tree_is_not_shipped(self):
        with open(os.path.join(self.src, "condd", "condd_pb2.py"), "w") as f:
            f.write("STALE = True\n")
        text = self.build_py()
        self.assertNotIn("STALE", text)
        self.assertIn("condd.proto", text)


if __name__ == "__main__":
    unittest.main()
