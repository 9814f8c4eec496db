"""The content-addressed artifact store on a real filesystem."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.artifacts import ArtifactStore


def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "store")


def test_the_same_tree_in_two_places_gets_one_digest_and_is_stored_once(
    store: ArtifactStore, tmp_path: Path
) -> None:
    files = {"a.txt": "alpha", "src/b.py": "print('b')\n"}
    first = store.put_dir(_tree(tmp_path / "one", files))
    second = store.put_dir(_tree(tmp_path / "two", files))
    assert first == second
    assert len(list((tmp_path / "store" / "trees").iterdir())) == 1


def test_different_content_gives_a_different_digest(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.put_dir(_tree(tmp_path / "one", {"a.txt": "alpha"}))
    second = store.put_dir(_tree(tmp_path / "two", {"a.txt": "beta"}))
    renamed = store.put_dir(_tree(tmp_path / "three", {"b.txt": "alpha"}))
    assert len({first, second, renamed}) == 3


def test_the_exec_bit_changes_the_digest_but_other_mode_bits_do_not(
    store: ArtifactStore, tmp_path: Path
) -> None:
    plain = _tree(tmp_path / "plain", {"run.sh": "echo hi\n"})
    executable = _tree(tmp_path / "exec", {"run.sh": "echo hi\n"})
    (executable / "run.sh").chmod(0o755)
    group_writable = _tree(tmp_path / "gw", {"run.sh": "echo hi\n"})
    (group_writable / "run.sh").chmod(0o664)
    assert store.put_dir(plain) != store.put_dir(executable)
    assert store.put_dir(plain) == store.put_dir(group_writable)


def test_materialize_round_trips_files_exec_bits_symlinks_and_empty_dirs(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = _tree(tmp_path / "src", {"bin/tool": "#!/bin/sh\n", "docs/readme.md": "hello"})
    (source / "bin/tool").chmod(0o755)
    (source / "empty").mkdir()
    (source / "link").symlink_to("docs/readme.md")
    digest = store.put_dir(source)

    dest = store.materialize(digest, tmp_path / "out" / "copy")

    assert (dest / "docs/readme.md").read_text() == "hello"
    assert (dest / "bin/tool").stat().st_mode & 0o111
    assert not (dest / "docs/readme.md").stat().st_mode & 0o111
    assert (dest / "empty").is_dir()
    assert (dest / "link").is_symlink() and (dest / "link").read_text() == "hello"
    assert store.put_dir(dest) == digest


def test_editing_a_materialized_copy_leaves_the_stored_tree_alone(
    store: ArtifactStore, tmp_path: Path
) -> None:
    digest = store.put_dir(_tree(tmp_path / "src", {"a.txt": "original"}))
    dest = store.materialize(digest, tmp_path / "copy")
    (dest / "a.txt").write_text("edited")
    assert (store.path(digest) / "a.txt").read_text() == "original"


def test_size_exists_and_unknown_digests(store: ArtifactStore, tmp_path: Path) -> None:
    digest = store.put_dir(_tree(tmp_path / "src", {"a": "12345", "d/b": "678"}))
    assert store.exists(digest)
    assert store.size(digest) == 8
    unknown = "0" * 64
    assert not store.exists(unknown)
    assert not store.exists("../../etc")
    for call in (store.path, store.size):
        with pytest.raises(KeyError):
            call(unknown)
    with pytest.raises(KeyError):
        store.materialize(unknown, tmp_path / "nowhere")


def test_concurrent_writers_of_the_same_tree_all_succeed_with_one_copy(
    store: ArtifactStore, tmp_path: Path
) -> None:
    source = _tree(tmp_path / "src", {f"f{i}.txt": str(i) * 1000 for i in range(50)})
    digests: list[str] = []

    def put() -> None:
        digests.append(store.put_dir(source))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(digests)) == 1 and len(digests) == 8
    assert len(list((tmp_path / "store" / "trees").iterdir())) == 1
    assert list((tmp_path / "store" / "staging").iterdir()) == []
