"""A green CI means something: with CI=true a test skipped for want of a service, a browser
or a client fails; other skips stay skips (without CI=true, as in this run, a skip is a
skip)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SKIPS = '''
import pytest

def test_needs_postgresql():
    pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432")

def test_needs_node():
    pytest.skip("Node.js and npm are needed to run the real GraphQL clients")

def test_not_a_checkout():
    pytest.skip("not a git checkout")
'''


def test_with_ci_true_a_missing_service_fails_and_other_skips_stay(tmp_path: Path) -> None:
    tests = tmp_path / "test_skips.py"
    tests.write_text(SKIPS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tests)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "CI": "true"})
    assert "2 failed, 1 skipped" in run.stdout, run.stdout + run.stderr
    assert "a missing service, browser or client is a failure" in run.stdout
