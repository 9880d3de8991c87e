"""Waiting for a `citylinks serve` that a benchmark script started."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log_path: Path,
                       timeout_s: float = 60.0) -> None:
    """Return once `/healthz` answers 200; exit if the server dies or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited early; see {log_path}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the server did not answer /healthz within {timeout_s:.0f} s; "
                     f"see {log_path}")
