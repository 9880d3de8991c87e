"""What the benchmark scripts share about the servers and databases they start."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def pg_fetch(dsn: str, *statements: str) -> list[Any]:
    """Each statement's rows, on one asyncpg connection (admin work, not the product's)."""
    import asyncpg  # type: ignore[import-untyped]

    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return [await connection.fetch(s) for s in statements]
    finally:
        await connection.close()


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
