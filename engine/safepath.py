"""Trees read and written by file descriptor, so nothing is ever read or written through a link."""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

# Opening a folder or a file with these never follows a link in the last component; every
# component before it is reached from a folder already opened the same way (dir_fd).
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO swapped in for a file must not hang the engine; it changes nothing for files.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

Note = Callable[[str], None]


class PathRefused(Exception):
    """A path Conveyor will not read or write: it goes through a link, or its kind conflicts."""


def _ignore(_: str) -> None:
    pass


def parts_of(relative: str) -> tuple[str, ...]:
    """The components of a relative POSIX path, refusing absolute paths and '..'."""
    pure = posixpath.normpath(relative) if relative else "."
    if pure.startswith("/") or pure == ".." or pure.startswith("../"):
        raise PathRefused(f"'{relative}' leaves its folder")
    return tuple(part for part in pure.split("/") if part not in ("", "."))


def link_leaves(root: Path, relative: str, target: str) -> str | None:
    """Why the link at root/relative (-> target) leaves the tree under root, or None if it stays.

    Both the text of the target and the real path it resolves to are checked: `a -> b/..` looks
    inside but leaves when `b` is itself a link to the root.
    """
    if not target or target.startswith("/"):
        return "it is absolute" if target else "it is empty"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
    if joined == ".." or joined.startswith("../"):
        return "it points above the artifact"
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, relative))
    if real != real_root and not real.startswith(real_root.rstrip("/") + "/"):
        return f"it resolves to {real}, outside the artifact"
    return None


def _lstat(name: str, dir_fd: int) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


class Folder:
    """An open folder; entries below it are created, replaced and read without following links.

    A link met where Conveyor writes is replaced (never followed), and the replacement noted:
    that is how a link left in a bucket by an earlier deploy stops mattering. A file where a
    folder is needed, or the reverse, is refused.
    """

    def __init__(self, fd: int, shown: str, note: Note) -> None:
        self.fd = fd
        self.shown = shown
        self.note = note

    @classmethod
    def root(cls, path: Path, *, note: Note = _ignore, create: bool = True) -> Folder:
        """The trusted starting folder (a workspace folder or a configured bucket)."""
        try:
            if create:
                path.mkdir(parents=True, exist_ok=True)
            return cls(os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC), "", note)
        except (FileExistsError, NotADirectoryError) as error:
            raise PathRefused(f"{path} is not a folder") from error

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _shown(self, name: str) -> str:
        return f"{self.shown}/{name}" if self.shown else name

    def folder(self, parts: Sequence[str], mode: int | None = 0o755) -> Folder:
        """The folder at parts below this one, created if missing; a link on the way is replaced."""
        current = Folder(os.dup(self.fd), self.shown, self.note)
        for name in parts:
            try:
                child = current._child(name, mode)
            finally:
                current.close()
            current = child
        return current

    def _child(self, name: str, mode: int | None) -> Folder:
        shown = self._shown(name)
        info = _lstat(name, self.fd)
        if info is not None and stat.S_ISLNK(info.st_mode):
            os.unlink(name, dir_fd=self.fd)
            self.note(f"replaced the link '{shown}' with a folder (links are never followed)")
            info = None
        if info is None:
            # Another deploy into the same bucket may make it first: that is fine.
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=self.fd)
        elif not stat.S_ISDIR(info.st_mode):
            raise PathRefused(f"'{shown}' is a file where a folder is needed")
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as error:  # swapped for a link or a file since: refused, not followed
            raise PathRefused(f"'{shown}' changed while it was written") from error
        if mode is not None:
            os.fchmod(fd, mode)
        return Folder(fd, shown, self.note)

    def write(self, name: str, fill: Callable[[BinaryIO], object], mode: int) -> None:
        """Create or replace the file `name` atomically: written under a fresh name, renamed.

        The rename replaces a link, or a second name of a file, rather than writing through it.
        """
        shown = self._shown(name)
        existing = _lstat(name, self.fd)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise PathRefused(f"'{shown}' is a folder where a file is needed")
        temporary = f".conveyor-{secrets.token_hex(8)}.partial"
        fd = os.open(temporary, _NEW_FILE_FLAGS, 0o600, dir_fd=self.fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                fill(handle)
                os.fchmod(handle.fileno(), mode)
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self.fd)
            raise
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            self.note(f"replaced the link '{shown}' with a file (links are never followed)")

    def symlink(self, name: str, target: str) -> None:
        """Create or replace `name` as a link to target (the caller checked it stays inside)."""
        shown = self._shown(name)
        existing = _lstat(name, self.fd)
        if existing is not None and stat.S_ISDIR(existing.st_mode):
            raise PathRefused(f"'{shown}' is a folder where a link is needed")
        temporary = f".conveyor-{secrets.token_hex(8)}.partial"
        os.symlink(target, temporary, dir_fd=self.fd)
        try:
            os.replace(temporary, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self.fd)
            raise

    def open_folder(self, parts: Sequence[str]) -> Folder:
        """An existing folder below this one; refused if any part is a link (never made)."""
        # _reopen closes the folder it opened from, whether it succeeds or not.
        fd = os.dup(self.fd)
        shown = self.shown
        for part in parts:
            shown = f"{shown}/{part}" if shown else part
            fd = _reopen(fd, part, _DIR_FLAGS, shown, "folder")
        return Folder(fd, shown, self.note)

    def open_file(self, parts: Sequence[str]) -> BinaryIO:
        """A regular file below this folder opened for reading; refused if any part is a link."""
        *folders, name = parts
        with self.open_folder(folders) as parent:
            shown = parent._shown(name)
            fd = _reopen(os.dup(parent.fd), name, _READ_FLAGS, shown, "file")
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise PathRefused(f"'{shown}' is not a regular file")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")


def _reopen(parent: int, name: str, flags: int, shown: str, kind: str) -> int:
    """Open name under parent (closing parent); a link there is refused, not followed."""
    try:
        return os.open(name, flags, dir_fd=parent)
    except OSError as error:
        info = _lstat(name, parent)
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise PathRefused(f"'{shown}' is a link (links are never followed)") from error
        if info is None:
            raise FileNotFoundError(f"no {kind} at '{shown}'") from error
        raise PathRefused(f"'{shown}' is not a {kind}") from error
    finally:
        os.close(parent)


Entry = tuple[str, os.stat_result, int, str]


def walk(root: Path) -> Iterator[Entry]:
    """Every entry under root, parents first, as (relative path, lstat, folder fd, name).

    Links to folders are entries, never descended into; the folder fd is valid only until the
    next entry is asked for.
    """
    for dirpath, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        relative_dir = os.path.relpath(dirpath, root)
        base = "" if relative_dir == "." else relative_dir.replace(os.sep, "/") + "/"
        descend = []
        for name in sorted([*dirnames, *filenames]):
            info = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                descend.append(name)
            yield base + name, info, dirfd, name
        dirnames[:] = sorted(set(dirnames) & set(descend))


def read_entry(dirfd: int, name: str) -> BinaryIO:
    """Open a regular file found by walk, refusing it if it was swapped for a link meanwhile."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dirfd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PathRefused(f"'{name}' is no longer a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def private_dir(path: Path) -> Path:
    """A folder only its owner may read (0700), whatever the umask; missing parents are made."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """A file only its owner may read (0600), created empty if missing; content kept."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path
