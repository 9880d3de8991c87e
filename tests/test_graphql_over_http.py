"""GraphQL over HTTP: the `graphql-http` package's server audits (from the npm registry, pinned
in tests/graphql_http/package-lock.json) run against a started server; every MUST audit
passes. The audits' output is printed, so CI's log shows it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import LiveServer, fresh_store

AUDIT_DIR = Path(__file__).resolve().parent / "graphql_http"


def _install_audit_tool() -> None:
    """`npm ci` into the gitignored node_modules, once per checkout (or lock change)."""
    installed = AUDIT_DIR / "node_modules" / ".package-lock.json"
    lock = AUDIT_DIR / "package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=AUDIT_DIR, check=True, capture_output=True, timeout=300)


@pytest.mark.slow
def test_every_must_audit_of_graphql_http_passes(templates: dict[str, str], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run graphql-http's audits")
    _install_audit_tool()
    url, _ = fresh_store("sqlite", templates, tmp_path)
    server = LiveServer(url, env={"CITYLINKS_WEBHOOK_DELIVERY": "0"}).start()
    try:
        run = subprocess.run(["node", "audit.mjs", f"{server.url}/graphql"], cwd=AUDIT_DIR,
                             capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    with capsys.disabled():
        print(f"\ngraphql-http server audits:\n{run.stdout}{run.stderr}")
    must = [line for line in run.stdout.splitlines() if " MUST " in line]
    assert len(must) >= 10, "the audits did not run"
    failed = [line for line in must if not line.startswith("ok ")]
    assert failed == [], "\n".join(failed)
    assert run.returncode == 0, run.stderr
