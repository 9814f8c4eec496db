"""File helpers shared by providers: safe paths, bucket directories, globs and zip archives."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from engine.artifacts import copy_tree
from engine.providers.base import ActionFailure, config_error
from engine.safepath import (
    Folder,
    Note,
    PathRefused,
    link_leaves,
    parts_of,
    read_entry,
    walk,
)

# Zip entries get a fixed timestamp so zipping the same artifact twice gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def inside(root: Path, relative: str, key: str) -> Path:
    """root/relative, refusing absolute paths, '..' and links that would leave root.

    The text is checked first, then the real path: a folder or file reached through a link that
    points outside root is refused, so nothing is read from outside through it.
    """
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise config_error(f"{key} '{relative}' must be a relative path inside its directory")
    path = root.joinpath(*pure.parts)
    if not _real_inside(path, root):
        raise config_error(f"{key} '{relative}' leaves its directory through a link")
    return path


def _real_inside(path: Path, root: Path) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip("/") + "/")


def bucket_dir(buckets_root: Path, name: str, key: str) -> Path:
    """A local bucket: buckets_root/NAME, or NAME itself when it is an absolute path."""
    if not name:
        raise config_error(f"{key} is required")
    if os.path.isabs(name):
        return Path(name)
    if "/" in name or name in (".", ".."):
        raise config_error(f"{key} '{name}' is not a bucket name (no '/'), nor an absolute path")
    return buckets_root / name


def collect(
    source: Path,
    patterns: Iterable[str],
    dest: Path,
    *,
    discard_paths: bool = False,
    exclude: Iterable[str] = (),
) -> int:
    """Copy the files under source matching any glob into dest; return how many were copied.

    Globs follow CodeBuild: relative to source, `**` spans directories, and a pattern naming a
    directory takes the whole directory. Links are copied as links, never read through, and a
    match reached through a link is skipped: each one is opened from source down without
    following links. Whether a link may stay in the artifact is decided when the artifact is
    stored (see engine.artifacts.copy_tree).
    """
    chosen: dict[str, tuple[str, ...]] = {}
    for pattern in patterns:
        for match in _glob(source, pattern):
            parts = match.relative_to(source).parts
            if match.is_dir() and not match.is_symlink():
                # Only names are listed here; every file is opened below, by descriptor.
                for relative, info, _, _ in walk(match):
                    if not stat.S_ISDIR(info.st_mode):
                        whole = (*parts, *relative.split("/"))
                        chosen["/".join(whole)] = whole
            elif parts:
                chosen["/".join(parts)] = parts
    excluded = {rel for pattern in exclude for rel in chosen if PurePosixPath(rel).match(pattern)}
    copied = 0
    with Folder.root(source, create=False) as src, Folder.root(dest) as out:
        for relative in sorted(chosen.keys() - excluded):
            parts = chosen[relative]
            if _copy_entry(src, parts, out, parts[-1:] if discard_paths else parts):
                copied += 1
    return copied


def _copy_entry(src: Folder, parts: tuple[str, ...], out: Folder, to: tuple[str, ...]) -> bool:
    """Copy source entry `parts` to `to` under out; False if it is not a file or a link, or
    is reached only through a link."""
    *folders, name = parts
    try:
        with src.open_folder(folders) as parent:
            info = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                target = os.readlink(name, dir_fd=parent.fd)
                with out.folder(to[:-1]) as place:
                    place.symlink(to[-1], target)
                return True
            if not stat.S_ISREG(info.st_mode):
                return False
            mode = 0o755 if info.st_mode & 0o111 else 0o644
            with read_entry(parent.fd, name) as reader, out.folder(to[:-1]) as place:
                place.write(to[-1], partial(shutil.copyfileobj, reader), mode)
            return True
    except (PathRefused, FileNotFoundError):
        return False


def _glob(source: Path, pattern: str) -> list[Path]:
    cleaned = pattern.strip()
    if cleaned.startswith("./"):
        cleaned = cleaned[2:]
    if not cleaned:
        return []
    if os.path.isabs(cleaned) or ".." in PurePosixPath(cleaned).parts:
        raise config_error(f"artifact file pattern '{pattern}' must stay inside its directory")
    try:
        return sorted(source.glob(cleaned))
    except ValueError as error:
        raise config_error(f"artifact file pattern '{pattern}' is invalid: {error}") from error


def extract_zip(archive: BinaryIO, name: str, dest: Path, note: Note) -> int:
    """Extract a zip into dest; return the files written.

    Exec bits are kept. An entry named outside dest (absolute, or with '..') fails the action
    ("zip slip"); a link entry is recreated only if it stays inside, else dropped and noted;
    nothing is written through a link, even one an earlier entry of the same zip made.
    """
    written = 0
    try:
        with zipfile.ZipFile(archive) as bundle, Folder.root(dest, note=note) as out:
            for info in bundle.infolist():
                written += _extract_entry(bundle, info, out, dest, note)
    except zipfile.BadZipFile as error:
        raise ActionFailure("JobFailed", f"{name} is not a valid zip: {error}") from error
    except PathRefused as error:
        raise ActionFailure("JobFailed", f"{name}: {error}") from error
    return written


def _extract_entry(
    bundle: zipfile.ZipFile, info: zipfile.ZipInfo, out: Folder, dest: Path, note: Note
) -> int:
    if PurePosixPath(info.filename).is_absolute() or ".." in PurePosixPath(info.filename).parts:
        raise ActionFailure(
            "JobFailed", f"zip entry '{info.filename}' would land outside the artifact"
        )
    parts = parts_of(info.filename)
    if not parts:
        return 0
    if info.is_dir():
        out.folder(parts).close()
        return 0
    mode = info.external_attr >> 16
    relative = "/".join(parts)
    with out.folder(parts[:-1]) as parent:
        if stat.S_ISLNK(mode):
            target = bundle.read(info).decode("utf-8", "surrogateescape")
            reason = link_leaves(dest, relative, target)
            if reason is not None:
                note(f"dropped the link '{relative}' -> '{target}': {reason}")
                return 0
            parent.symlink(parts[-1], target)
            return 1
        with bundle.open(info) as reader:
            parent.write(
                parts[-1], partial(shutil.copyfileobj, reader), 0o755 if mode & 0o111 else 0o644
            )
    return 1


def make_zip(source: Path, bucket: Path, key: Sequence[str], note: Note) -> int:
    """Zip a tree deterministically (sorted entries, fixed timestamps) to bucket/key.

    Links that stay inside the tree become link entries (as `zip --symlinks` stores them); links
    that leave it are dropped and noted. Returns the entries added. The object is written under
    a fresh name and renamed, so readers of the bucket never see a half-written one, and a link
    already at the key is replaced, not written through.
    """
    *folders, name = key
    with Folder.root(bucket, note=note) as root, root.folder(folders) as parent:
        added: list[int] = []
        parent.write(name, lambda out: added.append(_zip_into(source, out, note)), 0o644)
    return added[0]


def _zip_into(source: Path, out: BinaryIO, note: Note) -> int:
    added = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for relative, info, dirfd, name in walk(source):
            kind = stat.S_IFMT(info.st_mode)
            entry = zipfile.ZipInfo(relative, _ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            if kind == stat.S_IFLNK:
                target = os.readlink(name, dir_fd=dirfd)
                reason = link_leaves(source, relative, target)
                if reason is not None:
                    note(f"dropped the link '{relative}' -> '{target}': {reason}")
                    continue
                entry.external_attr = (0o777 | stat.S_IFLNK) << 16
                bundle.writestr(entry, target.encode("utf-8", "surrogateescape"))
            elif kind == stat.S_IFREG:
                executable = info.st_mode & 0o111
                entry.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                with read_entry(dirfd, name) as reader:
                    bundle.writestr(entry, reader.read())
            else:
                if kind != stat.S_IFDIR:
                    note(f"dropped '{relative}': neither a file, a folder nor a link")
                continue
            added += 1
    return added


def copy_into(source: Path, dest: Path) -> None:
    copy_tree(source, dest)
