"""The workspace's store, logs, artifacts and work folders are readable by their owner only.

Every command here runs with umask 000, the most permissive: the modes must not depend on it.
A pipeline run through the real `conveyor` also shows, end to end, that a build's links to a
folder outside cannot make a later deploy write there.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.bootstrap import build, init_workspace
from engine.settings import Settings
from tests.e2e.cli import CONVEYOR, Workspace


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def conveyor(ws: Workspace, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """The real command, started with umask 000."""
    done = subprocess.run(
        ["sh", "-c", 'umask 000 && exec "$0" "$@"', CONVEYOR, *args],
        cwd=ws.root,
        env=ws.env(),
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == expect, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path, init=False)
    conveyor(workspace, "init")
    return workspace


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


def pipeline(inbox: Path, site: Path, outside: Path) -> dict[str, Any]:
    """A source object, a build that leaves links to `outside`, a deploy of what it built."""
    # The first run leaves `dirlink -> outside`; the second (marker says "again") writes a file
    # below `dirlink`, which a deploy following the first run's link would write outside.
    out = shlex.quote(str(outside))
    build = "\n".join(
        [
            "if grep -q again marker; then mkdir dirlink && echo payload > dirlink/payload.txt;"
            f" else ln -s {out} dirlink; fi",
            f"ln -s {out}/secret.txt leak.txt",
            "echo hello > index.html",
        ]
    )
    return {
        "pipeline": {
            "name": "site",
            "roleArn": "arn:aws:iam::123456789012:role/local",
            "stages": [
                {
                    "name": "Source",
                    "actions": [
                        {
                            "name": "Fetch",
                            "actionTypeId": _type("Source", "S3"),
                            "configuration": {"S3Bucket": str(inbox), "S3ObjectKey": "marker"},
                            "outputArtifacts": [{"name": "Src"}],
                        }
                    ],
                },
                {
                    "name": "Build",
                    "actions": [
                        {
                            "name": "Make",
                            "actionTypeId": _type("Build", "Shell"),
                            "configuration": {"Commands": build},
                            "inputArtifacts": [{"name": "Src"}],
                            "outputArtifacts": [{"name": "Site"}],
                        }
                    ],
                },
                {
                    "name": "Deploy",
                    "actions": [
                        {
                            "name": "Publish",
                            "actionTypeId": _type("Deploy", "S3"),
                            "configuration": {"BucketName": str(site), "Extract": "true"},
                            "inputArtifacts": [{"name": "Site"}],
                        }
                    ],
                },
            ],
        }
    }


def test_init_makes_the_store_and_its_folders_owner_only_whatever_the_umask(
    ws: Workspace,
) -> None:
    home = ws.root / ".conveyor"
    assert mode(home) == 0o700
    for folder in ("logs", "artifacts", "work"):
        assert mode(home / folder) == 0o700, folder
    database = sorted(home.glob("conveyor.db*"))
    assert database and all(mode(path) == 0o600 for path in database), [
        (path.name, oct(mode(path))) for path in database
    ]
    if (home / "keys").exists():
        assert mode(home / "keys") == 0o700


def test_init_again_repairs_a_workspace_made_readable_by_others(ws: Workspace) -> None:
    home = ws.root / ".conveyor"
    home.chmod(0o755)
    (home / "conveyor.db").chmod(0o644)
    (home / "logs").chmod(0o755)

    conveyor(ws, "init")

    assert (mode(home), mode(home / "conveyor.db"), mode(home / "logs")) == (0o700, 0o600, 0o700)


def test_a_run_keeps_logs_artifacts_and_the_database_owner_only_and_nothing_escapes(
    ws: Workspace, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    outside.chmod(0o700)
    before = {p.name: (mode(p), p.read_bytes()) for p in outside.iterdir()}
    inbox, site = tmp_path / "inbox", tmp_path / "site"
    inbox.mkdir()
    (inbox / "marker").write_text("run\n")
    ws.write("pipeline.json", pipeline(inbox, site, outside))

    conveyor(ws, "pipeline", "create", "pipeline.json", "--wait")
    (inbox / "marker").write_text("run again\n")
    conveyor(ws, "start", "site", "--wait")

    home = ws.root / ".conveyor"
    assert mode(outside) == 0o700
    assert {p.name: (mode(p), p.read_bytes()) for p in outside.iterdir()} == before
    assert (site / "index.html").read_text() == "hello\n"
    assert not (site / "leak.txt").exists() and not (site / "leak.txt").is_symlink()
    assert not (site / "dirlink").is_symlink()
    assert (site / "dirlink" / "payload.txt").read_text() == "payload\n"

    logs = [p for p in (home / "logs").rglob("*") if p.is_file()]
    assert logs
    assert all(mode(p) == 0o600 for p in logs), [(p.name, oct(mode(p))) for p in logs]
    folders = [home / "logs", *(p for p in (home / "logs").rglob("*") if p.is_dir())]
    assert all(mode(p) == 0o700 for p in folders)
    assert any("dropped the link 'leak.txt'" in p.read_text() for p in logs)
    assert mode(home / "artifacts") == 0o700
    database = sorted(home.glob("conveyor.db*"))
    assert all(mode(path) == 0o600 for path in database), [
        (path.name, oct(mode(path))) for path in database
    ]
    assert os.stat(home).st_uid == os.getuid()


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_sqlites_wal_and_shm_files_beside_an_open_store_are_owner_only(tmp_path: Path) -> None:
    system = init_workspace(Settings(home=tmp_path / ".conveyor"), env={})
    try:
        # While the store is open, SQLite keeps its -wal and -shm files beside the database.
        beside = sorted(p.name for p in (tmp_path / ".conveyor").glob("conveyor.db*"))
        assert beside == ["conveyor.db", "conveyor.db-shm", "conveyor.db-wal"]
        for name in beside:
            assert mode(tmp_path / ".conveyor" / name) == 0o600, name
    finally:
        system.close()


@pytest.mark.usefixtures("open_umask")
def test_a_store_first_opened_without_init_is_owner_only_too(tmp_path: Path) -> None:
    home = tmp_path / ".conveyor"
    home.mkdir()
    build(Settings(home=home), env={}, set_up=True).close()
    assert mode(home / "conveyor.db") == 0o600
