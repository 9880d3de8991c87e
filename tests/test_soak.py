"""The load script (benchmarks/soak.py) works end to end: a short run on two workers
against PostgreSQL answers every request and finds every acknowledged write, once.
The figures of a full 60-second run are in the README; this keeps the script honest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_a_short_soak_loses_no_acknowledged_write(pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not answering on 127.0.0.1:5432: the load script needs it")
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "soak.py"), "--workers", "2",
         "--seconds", "3", "--concurrency", "4", "--writes", "0.5"],
        capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["errors"] == 0, figures["error_sample"]
    assert 0 < figures["writes_acknowledged"] < figures["requests"]
    assert figures["acknowledged_missing"] == 0
    assert figures["duplicates"] == 0
    assert figures["stored_writes"] == figures["writes_acknowledged"]
