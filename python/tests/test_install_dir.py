# SPDX-License-Identifier: BSD-2-Clause
"""Where `make install` puts the package (configure.ac, docs/python.md "Installing"): the
directory under the prefix that the interpreter has on sys.path (Debian's python3 reads
PREFIX/lib/python3.11/dist-packages and /usr/lib/python3/dist-packages, not automake's
site-packages), else automake's default. python/local.mk passes the configured directories
($CONDD_PYTHONDIR, $CONDD_PREFIX, $PYTHON) to tests/python.sh."""

import os
import subprocess
import sys
import unittest


def interpreter_dirs(python, prefix):
    """The -packages directories of python's sys.path directly under prefix/lib."""
    code = "import sys; print('\\n'.join(p for p in sys.path if p))"
    out = subprocess.run([python, "-c", code], check=True, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH="")).stdout
    lib = os.path.join(os.path.normpath(prefix), "lib")
    return [os.path.normpath(d) for d in out.split()
            if os.path.basename(d) in ("dist-packages", "site-packages")
            and os.path.dirname(os.path.dirname(os.path.normpath(d))) == lib]


@unittest.skipUnless(os.environ.get("CONDD_PYTHONDIR"),
                     "run by make check (tests/python.sh), which passes the configured pythondir")
class InstallDirTests(unittest.TestCase):
    def test_pythondir_is_on_the_interpreters_path_when_one_is_under_the_prefix(self):
        pythondir = os.path.normpath(os.environ["CONDD_PYTHONDIR"])
        prefix = os.environ["CONDD_PREFIX"]
        python = os.environ.get("PYTHON") or sys.executable
        dirs = interpreter_dirs(python, prefix)
        if dirs:
            self.assertEqual(pythondir, dirs[0],
                             "make install would put the package where %s does not look" % python)
        else:  # (distcheck's temporary prefix): automake's default
            self.assertTrue(pythondir.startswith(os.path.join(os.path.normpath(prefix), "lib")))
            self.assertEqual(os.path.basename(pythondir), "site-packages")


if __name__ == "__main__":
    unittest.main()
