"""The committed explorer assets (explorer/static/) are what the build makes of explorer/src/."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

EXPLORER = REPO / "explorer"


def test_committed_assets_are_rebuilt_from_the_sources(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("the explorer's build needs Node.js and npm")
    if not (EXPLORER / "node_modules" / "graphiql").is_dir():
        # The packages the lock file pins, into the gitignored node_modules, once.
        install = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                 cwd=EXPLORER, capture_output=True, text=True, timeout=240)
        if install.returncode != 0:
            pytest.skip(f"could not install the explorer's packages from the npm registry: "
                        f"{install.stderr.strip()[-300:]}")
    out = tmp_path / "static"
    result = subprocess.run([node, "scripts/build.mjs"], cwd=EXPLORER, capture_output=True,
                            text=True, timeout=120, check=False,
                            env={**os.environ, "EXPLORER_OUT": str(out)})
    assert result.returncode == 0, result.stdout + result.stderr

    committed = EXPLORER / "static"
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())

    built = files(out)
    assert files(committed) == built
    stale = [name for name in built if (out / name).read_bytes() != (committed / name).read_bytes()]
    assert not stale, (f"explorer/static/ is older than explorer/src/ ({', '.join(stale)}): "
                       "run `cd explorer && npm ci && npm run build` and commit static/")
