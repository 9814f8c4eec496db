"""A content-addressed store of artifact trees: each directory is kept once under its digest."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path

from engine.safepath import Folder, Note, link_leaves, private_dir, read_entry, walk

_CHUNK = 1 << 20


def _entries(root: Path) -> Iterator[tuple[str, Path]]:
    """Every path under root (not root itself), as (posix relative path, path), sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted([*dirnames, *filenames]):
            path = base / name
            yield path.relative_to(root).as_posix(), path


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def tree_digest(root: Path) -> str:
    """The sha256 of a tree: sorted relative paths, entry kinds, exec bits and file contents.

    Owners, timestamps and permission bits other than "executable" are left out, so the same
    files checked out twice, or by two machines, get the same digest.
    """
    digest = hashlib.sha256(b"conveyor-tree-v1\n")
    for relative, path in sorted(_entries(root)):
        info = path.lstat()
        encoded = relative.encode("utf-8", "surrogateescape")
        if stat.S_ISLNK(info.st_mode):
            target = os.readlink(path).encode("utf-8", "surrogateescape")
            line = b"l %d:%s %d:%s\n" % (len(encoded), encoded, len(target), target)
        elif stat.S_ISDIR(info.st_mode):
            line = b"d %d:%s\n" % (len(encoded), encoded)
        elif stat.S_ISREG(info.st_mode):
            kind = b"x" if info.st_mode & 0o111 else b"f"
            content = _file_hash(path).encode()
            line = b"%s %d:%s %s\n" % (kind, len(encoded), encoded, content)
        else:
            raise ValueError(f"{path} is neither a file, a directory nor a symlink")
        digest.update(line)
    return digest.hexdigest()


def copy_tree(
    source: Path,
    dest: Path,
    *,
    under: Sequence[str] = (),
    note: Note | None = None,
) -> int:
    """Copy a tree into dest/under; return how many files it holds.

    The rule for links: an artifact never holds a link that leaves it, and nothing is written
    through a link. A link that stays inside the source tree is kept as a link; one that leaves
    it (absolute, or resolving outside) is dropped, and `note` says so. Nothing is read through
    a link either: the source is walked by file descriptor. `dest` itself is trusted (a
    workspace folder or a configured bucket); every folder below it is reached without
    following links, and a link found where the copy writes is replaced, never followed.
    Modes are normalised to 0o755 / 0o644.
    """
    say = note or _ignore
    files = 0
    with Folder.root(dest, note=say) as root, root.folder(under) as base, _Parents(base) as parents:
        for relative, info, dirfd, name in walk(source):
            *folders, leaf = relative.split("/")
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(name, dir_fd=dirfd)
                reason = link_leaves(source, relative, target)
                if reason is None:
                    parents.at(folders).symlink(leaf, target)
                else:
                    say(f"dropped the link '{relative}' -> '{target}': {reason}")
            elif stat.S_ISDIR(info.st_mode):
                parents.at(folders).folder([leaf]).close()
            elif stat.S_ISREG(info.st_mode):
                mode = 0o755 if info.st_mode & 0o111 else 0o644
                with read_entry(dirfd, name) as reader:
                    parents.at(folders).write(leaf, partial(shutil.copyfileobj, reader), mode)
                files += 1
            else:
                say(f"dropped '{relative}': neither a file, a folder nor a link")
    return files


class _Parents:
    """The destination folder of the entries being copied, kept open while they share it."""

    def __init__(self, base: Folder) -> None:
        self._base = base
        self._key: tuple[str, ...] = ()
        self._open: Folder | None = None

    def at(self, folders: Sequence[str]) -> Folder:
        key = tuple(folders)
        if not key:
            return self._base
        if self._open is None or key != self._key:
            self.close()
            self._open, self._key = self._base.folder(key), key
        return self._open

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None

    def __enter__(self) -> _Parents:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _ignore(_: str) -> None:
    pass


class ArtifactStore:
    """Artifact trees on disk at root/trees/<digest>; a stored tree is never modified."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._trees = self.root / "trees"
        self._staging = self.root / "staging"

    def put_dir(self, path: Path, note: Note | None = None) -> str:
        """Store a copy of the directory and return its digest; identical trees share one copy.

        Links that leave the directory are dropped from the copy (see copy_tree), told to note.
        """
        source = Path(path)
        if not source.is_dir():
            raise NotADirectoryError(f"artifact source {source} is not a directory")
        # The store is the owner's alone (0700), whatever the umask.
        private_dir(self.root)
        self._trees.mkdir(exist_ok=True)
        self._staging.mkdir(exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="put-", dir=self._staging))
        try:
            # Digest the copy, not the source, so a source changing underneath us can never be
            # stored under a digest that does not match what was stored.
            copy_tree(source, staging, note=note)
            digest = tree_digest(staging)
            target = self._trees / digest
            if target.exists():
                return digest
            try:
                # A rename is atomic: concurrent writers of the same tree race here and the
                # loser finds the winner's identical copy in place.
                staging.chmod(0o755)
                os.rename(staging, target)
            except OSError:
                if not target.is_dir():
                    raise
            return digest
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def path(self, digest: str) -> Path:
        """The stored tree for a digest; callers must treat it as read-only."""
        target = self._trees / self._checked(digest)
        if not target.is_dir():
            raise KeyError(digest)
        return target

    def exists(self, digest: str) -> bool:
        try:
            self.path(digest)
        except KeyError:
            return False
        return True

    def materialize(self, digest: str, dest: Path) -> Path:
        """Copy the stored tree into dest (created if needed) and return dest.

        Files are copied rather than hardlinked: a consumer editing a file in place would
        otherwise corrupt the stored tree for everyone.
        """
        source = self.path(digest)
        destination = Path(dest)
        copy_tree(source, destination)
        return destination

    def size(self, digest: str) -> int:
        """Total bytes of the regular files in the stored tree."""
        total = 0
        for _, path in _entries(self.path(digest)):
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
        return total

    @staticmethod
    def _checked(digest: str) -> str:
        # Digests become path components: anything but lowercase hex could escape the store.
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise KeyError(digest)
        return digest
