"""The product works installed as a plain wheel: migrations, bundled data and explorer travel."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from this checkout, unpacked alone into a fresh directory."""
    out = tmp_path_factory.mktemp("wheel")
    # Built from a copy: setuptools reuses a stale build/ directory of the checkout, which
    # could hold files the package list no longer names.
    source = out / "source"
    anywhere = shutil.ignore_patterns("node_modules", "__pycache__", "*.db*")

    def ignore(directory: str, names: list[str]) -> set[str]:
        # build/ and dist/ only at the top: vendored packages have dist/ folders of their own
        top = {".git", ".venv", "build", "dist"} if Path(directory) == REPO else set()
        return set(anywhere(directory, names)) | (top & set(names))

    shutil.copytree(REPO, source, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(source)], check=True, capture_output=True)
    (wheel,) = out.glob("citylinks-*.whl")
    target = out / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    return target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # PYTHONPATH first: the unpacked wheel, not this checkout, provides citylinks.
    return subprocess.run([sys.executable, "-m", "citylinks", *args], cwd=cwd,
                          env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_wheel_carries_migrations_seed_and_explorer(installed: Path) -> None:
    package = installed / "citylinks"
    assert (package / "db" / "migrations" / "env.py").is_file()
    assert list((package / "db" / "migrations" / "versions").glob("0001_*.py"))
    assert (package / "db" / "seed" / "citylinks-seed.json").is_file()
    assert (package / "explorer" / "__init__.py").is_file()
    assert (package / "explorer" / "static" / "index.html").is_file()
    # `citylinks import --format wikidata` runs the documented query from the package.
    assert "?statement" in (package / "docs" / "wikidata-twinnings.rq").read_text("utf-8")


def test_wheel_carries_every_package_of_the_source_tree(installed: Path) -> None:
    # The editable install of the test run would quietly supply a subpackage the wheel
    # forgot, so the wheel's contents are compared with the tree directly.
    not_shipped = {"tests", "benchmarks", "build", "dist", ".venv", "node_modules"}
    packages = {path.parent.relative_to(REPO) for path in REPO.rglob("__init__.py")
                if not not_shipped & set(path.relative_to(REPO).parts)}
    missing = [str(package) for package in packages
               if not (installed / "citylinks" / package / "__init__.py").is_file()]
    assert not missing, f"packages missing from the wheel: {missing}"


def test_installed_wheel_serves_the_bundled_data_from_any_directory(installed: Path,
                                                                   tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "citylinks", "serve", "--port", str(port), "--log-level",
         "warning"], cwd=tmp_path, env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        response = httpx.post(f"http://127.0.0.1:{port}/graphql",
                              json={"query": "{ stats { cities partnerships } }"})
        stats = response.json()["data"]["stats"]
        assert stats["cities"] > 0 and stats["partnerships"] > 0
        # the default store is a file in the working directory
        assert (tmp_path / "citylinks.db").is_file()
        # and the explorer comes from the package, with the assets its page names
        page = httpx.get(f"http://127.0.0.1:{port}/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assets = re.findall(r'(?:src|href)="(/explorer/[^"]+)"', page.text)
        assert assets, "the explorer page names no assets"
        graphiql = httpx.get(f"http://127.0.0.1:{port}/graphql",
                             headers={"accept": "text/html"}).text
        assets += re.findall(r'(?:src|href)="(/explorer/vendor/[^"]+)"', graphiql)
        assert any("graphiql" in asset for asset in assets), "GraphiQL names no local assets"
        for asset in assets:
            assert httpx.get(f"http://127.0.0.1:{port}{asset}").status_code == 200, asset
    finally:
        server.terminate()
        server.wait(15)


def test_installed_wheel_prints_the_schema(installed: Path, tmp_path: Path) -> None:
    result = _run(installed, tmp_path, "schema")
    assert result.returncode == 0, result.stderr
    assert "type City implements Node" in result.stdout


def test_every_shipped_asset_is_committed() -> None:
    # The wheel is built from a clean checkout in CI: a file that .gitignore hides
    # (a vendored package's dist/ folder, say) is in this tree but not in the wheel.
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files", "explorer/static", "db"], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout.split())
    shipped = {str(p.relative_to(REPO)) for folder in ("explorer/static", "db")
               for p in (REPO / folder).rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped - tracked == set(), "files the package ships that git does not track"
