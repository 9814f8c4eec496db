"""Nothing leaves the workspace through a link: artifacts, the store, buckets and zips.

Each test keeps an `outside` folder (mode 0700, one secret file) beside the workspace and checks
that its contents and modes are the same afterwards, and that no secret reached an artifact.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from engine.artifacts import ArtifactStore, tree_digest
from engine.providers.base import ActionOutcome
from tests.support.providers import Run, provider_runner

SECRET = "the secret outside the workspace\n"

Snapshot = dict[str, tuple[int, bytes | str | None]]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    folder.chmod(0o700)
    return folder


def snapshot(root: Path) -> Snapshot:
    """Every entry under root (and root itself): its mode and its content or link target."""
    seen: Snapshot = {".": (root.lstat().st_mode, None)}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        content: bytes | str | None = None
        if stat.S_ISLNK(info.st_mode):
            content = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        seen[path.relative_to(root).as_posix()] = (info.st_mode, content)
    return seen


def holds_secret(root: Path) -> bool:
    """Whether any regular file under root (never following links) holds the secret."""
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and SECRET.encode() in path.read_bytes():
                return True
    return False


def links_under(root: Path) -> dict[str, str]:
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if path.is_symlink():
                found[path.relative_to(root).as_posix()] = os.readlink(path)
    return found


def tree(root: Path, files: Mapping[str, str], links: Mapping[str, str] = {}) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    for relative, target in links.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return provider_runner(tmp_path, category="Deploy")


def deploy(run: Run, artifact: Path, **configuration: str) -> tuple[ActionOutcome, str]:
    outcome, request = run(
        "s3-deploy",
        configuration={"BucketName": "www", "Extract": "true", **configuration},
        input_artifacts={"Site": artifact},
    )
    return outcome, request.log_path.read_text()


# ---------------------------------------------------------------- links left in the bucket


def test_a_second_deploy_never_writes_through_a_link_the_first_one_left(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    before = snapshot(outside)
    first = tree(tmp_path / "a1", {"index.html": "v1"}, {"dirlink": str(outside)})
    second = tree(tmp_path / "a2", {"index.html": "v2", "dirlink/payload.txt": "payload"})

    outcome, log = deploy(run, first)
    assert outcome.succeeded, outcome.error_message
    assert f"dropped the link 'dirlink' -> '{outside}': it is absolute" in log
    outcome, _ = deploy(run, second)
    assert outcome.succeeded, outcome.error_message

    assert snapshot(outside) == before
    bucket = tmp_path / "buckets" / "www"
    assert not (bucket / "dirlink").is_symlink()
    assert (bucket / "dirlink" / "payload.txt").read_text() == "payload"


def test_a_link_already_in_the_bucket_is_replaced_by_the_folder_and_the_log_says_so(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    # As an earlier Conveyor, or anyone, left it: the bucket holds a link to a folder outside.
    bucket = tmp_path / "buckets" / "www"
    bucket.mkdir(parents=True)
    (bucket / "dirlink").symlink_to(outside)
    before = snapshot(outside)

    outcome, log = deploy(run, tree(tmp_path / "a", {"dirlink/payload.txt": "payload"}))

    assert outcome.succeeded, outcome.error_message
    assert snapshot(outside) == before
    assert "replaced the link 'dirlink' with a folder (links are never followed)" in log
    assert (bucket / "dirlink").is_dir() and not (bucket / "dirlink").is_symlink()
    assert stat.S_IMODE(outside.stat().st_mode) == 0o700


def test_an_object_key_through_a_link_in_the_bucket_writes_inside_the_bucket(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    bucket = tmp_path / "buckets" / "www"
    bucket.mkdir(parents=True)
    (bucket / "dirlink").symlink_to(outside)
    before = snapshot(outside)
    artifact = tree(tmp_path / "a", {"index.html": "hi"})

    outcome, log = deploy(run, artifact, Extract="false", ObjectKey="dirlink/through.zip")
    assert outcome.succeeded, outcome.error_message
    outcome, _ = deploy(run, artifact, Extract="true", ObjectKey="dirlink/site")
    assert outcome.succeeded, outcome.error_message

    assert snapshot(outside) == before
    assert "replaced the link 'dirlink' with a folder" in log
    assert zipfile.is_zipfile(bucket / "dirlink" / "through.zip")
    assert (bucket / "dirlink" / "site" / "index.html").read_text() == "hi"


def test_a_link_or_a_second_name_at_a_file_in_the_bucket_is_replaced_not_written_through(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    bucket = tmp_path / "buckets" / "www"
    bucket.mkdir(parents=True)
    (bucket / "index.html").symlink_to(outside / "secret.txt")
    os.link(outside / "secret.txt", bucket / "about.html")
    before = snapshot(outside)

    outcome, log = deploy(run, tree(tmp_path / "a", {"index.html": "new", "about.html": "new"}))

    assert outcome.succeeded, outcome.error_message
    assert snapshot(outside) == before
    assert "replaced the link 'index.html' with a file" in log
    assert (bucket / "index.html").read_text() == "new"
    assert (bucket / "about.html").read_text() == "new"


def test_a_file_where_the_artifact_has_a_folder_fails_the_deploy_clearly(
    run: Run, tmp_path: Path
) -> None:
    bucket = tmp_path / "buckets" / "www"
    bucket.mkdir(parents=True)
    (bucket / "css").write_text("a file")

    outcome, _ = deploy(run, tree(tmp_path / "a", {"css/a.css": "x"}))

    assert outcome.error_code == "JobFailed"
    assert "'css' is a file where a folder is needed" in (outcome.error_message or "")
    assert (bucket / "css").read_text() == "a file"


# ---------------------------------------------------------------- links in artifacts


def test_extract_false_never_zips_what_a_link_points_at_outside(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    artifact = tree(
        tmp_path / "a",
        {"index.html": "hi"},
        {"passwd": "/etc/passwd", "secret.txt": str(outside / "secret.txt")},
    )

    outcome, log = deploy(run, artifact, Extract="false", ObjectKey="site.zip")

    assert outcome.succeeded, outcome.error_message
    with zipfile.ZipFile(tmp_path / "buckets" / "www" / "site.zip") as bundle:
        assert bundle.namelist() == ["index.html"]
        assert all(SECRET.encode() not in bundle.read(name) for name in bundle.namelist())
    assert "dropped the link 'passwd' -> '/etc/passwd': it is absolute" in log
    assert "dropped the link 'secret.txt'" in log


def test_extract_true_never_copies_a_link_that_leaves_the_artifact_into_the_bucket(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    (outside / "inner").mkdir()
    artifact = tree(
        tmp_path / "a",
        {"sub/index.html": "hi"},
        {
            "etc": "/etc",
            "up": "../outside",
            # Text that looks inside, a path that is not: `self` is the root, `self/..` above it.
            "self": ".",
            "sneaky": "self/../outside",
        },
    )

    outcome, log = deploy(run, artifact)

    assert outcome.succeeded, outcome.error_message
    bucket = tmp_path / "buckets" / "www"
    assert links_under(bucket) == {"self": "."}
    for name in ("etc", "up", "sneaky"):
        assert f"dropped the link '{name}'" in log


def test_links_that_stay_inside_an_artifact_are_kept_in_the_store_the_bucket_and_the_zip(
    run: Run, tmp_path: Path
) -> None:
    artifact = tree(
        tmp_path / "a",
        {"v1/index.html": "one", "docs/readme.md": "read me"},
        {"latest": "v1", "docs/index.html": "../v1/index.html"},
    )
    store = ArtifactStore(tmp_path / "store")
    digest = store.put_dir(artifact)
    stored = store.path(digest)
    assert links_under(stored) == {"latest": "v1", "docs/index.html": "../v1/index.html"}

    outcome, _ = deploy(run, stored)
    assert outcome.succeeded, outcome.error_message
    assert (tmp_path / "buckets" / "www" / "latest" / "index.html").read_text() == "one"

    outcome, _ = deploy(run, stored, Extract="false", ObjectKey="site.zip")
    assert outcome.succeeded, outcome.error_message
    outcome, _ = run(
        "s3-source",
        category="Source",
        configuration={"S3Bucket": "www", "S3ObjectKey": "site.zip"},
        output_artifacts={"Site": ()},
    )
    assert outcome.succeeded, outcome.error_message
    # Zipped and read back, the tree is the same tree: links stay links.
    assert tree_digest(outcome.output_artifacts["Site"]) == digest


def test_storing_an_artifact_drops_links_that_leave_it_and_says_which(
    tmp_path: Path, outside: Path
) -> None:
    artifact = tree(
        tmp_path / "a",
        {"ok.txt": "fine"},
        {"alias.txt": "ok.txt", "leak.txt": str(outside / "secret.txt"), "outdir": str(outside)},
    )
    notes: list[str] = []
    store = ArtifactStore(tmp_path / "store")

    stored = store.path(store.put_dir(artifact, note=notes.append))

    assert links_under(stored) == {"alias.txt": "ok.txt"}
    assert not holds_secret(stored)
    assert sorted(note.split(" -> ")[0] for note in notes) == [
        "dropped the link 'leak.txt'",
        "dropped the link 'outdir'",
    ]


def test_a_fifo_in_an_artifact_is_left_out_and_never_opened(tmp_path: Path) -> None:
    artifact = tree(tmp_path / "a", {"ok.txt": "fine"})
    os.mkfifo(artifact / "pipe")
    notes: list[str] = []
    store = ArtifactStore(tmp_path / "store")

    stored = store.path(store.put_dir(artifact, note=notes.append))

    assert sorted(p.name for p in stored.iterdir()) == ["ok.txt"]
    assert notes == ["dropped 'pipe': neither a file, a folder nor a link"]


def test_a_build_output_link_to_outside_never_brings_its_target_into_the_artifact(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    commands = (
        "echo fine > ok.txt",
        "ln -s ok.txt alias.txt",
        'ln -s "$OUTSIDE/secret.txt" leak.txt',
        'ln -s "$OUTSIDE" outdir',
    )
    outcome, _ = run(
        "shell",
        category="Build",
        commands=commands,
        environment={"OUTSIDE": str(outside)},
        output_artifacts={"Everything": ("**/*",), "Named": ("leak.txt", "ok.txt")},
    )
    assert outcome.succeeded, outcome.error_message
    store = ArtifactStore(tmp_path / "store")
    for name, produced in outcome.output_artifacts.items():
        stored = store.path(store.put_dir(produced))
        assert not holds_secret(stored), name
        assert set(links_under(stored).values()) <= {"ok.txt"}, name

    # A pattern that reaches files only through the link finds nothing, rather than them.
    outcome, _ = run(
        "shell",
        category="Build",
        commands=commands,
        environment={"OUTSIDE": str(outside)},
        output_artifacts={"Through": ("outdir/*",)},
    )
    assert outcome.error_message == "output artifact 'Through': no files match outdir/*"


def test_a_codebuild_base_directory_that_is_a_link_to_outside_is_refused(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    inline = (
        "version: 0.2\n"
        f"phases: {{build: {{commands: ['ln -s {outside} dist']}}}}\n"
        "artifacts: {base-directory: dist, files: ['**/*']}\n"
    )
    outcome, _ = run(
        "codebuild",
        category="Build",
        configuration={"BuildSpec": inline},
        input_artifacts={"Src": tree(tmp_path / "src", {"app.txt": "app"})},
        output_artifacts={"Out": ()},
    )

    assert outcome.error_code == "ConfigurationError"
    assert "base-directory 'dist' leaves its directory through a link" in (
        outcome.error_message or ""
    )
    assert not any(holds_secret(path) for path in outcome.output_artifacts.values())


# ---------------------------------------------------------------- the S3 source


def test_an_s3_source_object_that_is_a_link_is_refused_and_never_read(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    bucket = tmp_path / "buckets" / "in"
    bucket.mkdir(parents=True)
    (bucket / "passwd").symlink_to("/etc/passwd")
    (bucket / "secret.txt").symlink_to(outside / "secret.txt")
    (bucket / "dirlink").symlink_to(outside)

    for key, shown in (
        ("passwd", "passwd"),
        ("secret.txt", "secret.txt"),
        ("dirlink/secret.txt", "dirlink"),
    ):
        outcome, request = run(
            "s3-source",
            category="Source",
            configuration={"S3Bucket": "in", "S3ObjectKey": key},
            output_artifacts={"Src": ()},
        )
        assert not outcome.succeeded, key
        assert outcome.error_code == "JobFailed"
        assert f"'{shown}' is a link (links are never followed)" in (outcome.error_message or "")
        assert not holds_secret(request.workdir), key
        assert "root:" not in "".join(
            p.read_text() for p in request.workdir.rglob("*") if p.is_file()
        )


def zip_bytes(entries: list[tuple[str, bytes, int]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            bundle.writestr(info, data)
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["../escaped.txt", "/tmp/escaped.txt", "a/../../escaped.txt"])
def test_a_zip_entry_named_outside_the_artifact_fails_the_source_and_writes_nothing(
    run: Run, tmp_path: Path, name: str
) -> None:
    bucket = tmp_path / "buckets" / "in"
    bucket.mkdir(parents=True)
    (bucket / "slip.zip").write_bytes(zip_bytes([(name, b"x", stat.S_IFREG | 0o644)]))

    outcome, _ = run(
        "s3-source",
        category="Source",
        configuration={"S3Bucket": "in", "S3ObjectKey": "slip.zip"},
        output_artifacts={"Src": ()},
    )

    assert outcome.error_code == "JobFailed"
    assert "would land outside the artifact" in (outcome.error_message or "")
    assert not (tmp_path / "escaped.txt").exists()
    assert not (tmp_path / "work" / "escaped.txt").exists()


def test_a_zip_link_entry_that_leaves_is_dropped_and_a_later_entry_never_goes_through_it(
    run: Run, tmp_path: Path, outside: Path
) -> None:
    bucket = tmp_path / "buckets" / "in"
    bucket.mkdir(parents=True)
    archive = zip_bytes(
        [
            ("out", str(outside).encode(), stat.S_IFLNK | 0o777),
            ("inner", b"sub", stat.S_IFLNK | 0o777),
            ("sub/", b"", stat.S_IFDIR | 0o755),
            ("out/payload.txt", b"payload", stat.S_IFREG | 0o644),
            ("inner/x.txt", b"x", stat.S_IFREG | 0o644),
        ]
    )
    (bucket / "site.zip").write_bytes(archive)
    before = snapshot(outside)

    outcome, request = run(
        "s3-source",
        category="Source",
        configuration={"S3Bucket": "in", "S3ObjectKey": "site.zip"},
        output_artifacts={"Src": ()},
    )

    assert outcome.succeeded, outcome.error_message
    assert snapshot(outside) == before
    output = outcome.output_artifacts["Src"]
    assert (output / "out" / "payload.txt").read_text() == "payload"
    assert not (output / "out").is_symlink()
    # `inner/x.txt` came after the link `inner`: the link is replaced, never written through.
    assert (output / "inner" / "x.txt").read_text() == "x"
    assert not (output / "sub" / "x.txt").exists()
    log = request.log_path.read_text()
    assert f"dropped the link 'out' -> '{outside}': it is absolute" in log
    assert "replaced the link 'inner' with a folder" in log
