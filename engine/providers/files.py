"""File helpers shared by providers: safe paths, bucket directories, globs and zip archives."""

from __future__ import annotations

import os
import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from engine.artifacts import copy_tree
from engine.providers.base import ActionFailure, config_error

# Zip entries get a fixed timestamp so zipping the same artifact twice gives the same bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def inside(root: Path, relative: str, key: str) -> Path:
    """root/relative, refusing absolute paths and '..' that would leave root."""
    pure = PurePosixPath(relative)
    if pure.is_absolute() or ".." in pure.parts:
        raise config_error(f"{key} '{relative}' must be a relative path inside its directory")
    return root.joinpath(*pure.parts)


def bucket_dir(buckets_root: Path, name: str, key: str) -> Path:
    """A local bucket: buckets_root/NAME, or NAME itself when it is an absolute path."""
    if not name:
        raise config_error(f"{key} is required")
    if os.path.isabs(name):
        return Path(name)
    if "/" in name or name in (".", ".."):
        raise config_error(f"{key} '{name}' is not a bucket name (no '/'), nor an absolute path")
    return buckets_root / name


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


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
    directory takes the whole directory.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root = source.resolve()
    chosen: dict[str, Path] = {}
    for pattern in patterns:
        for match in _glob(source, pattern):
            if not match.resolve().is_relative_to(root) and not match.is_symlink():
                continue
            if match.is_dir() and not match.is_symlink():
                for dirpath, _, filenames in os.walk(match):
                    for name in filenames:
                        path = Path(dirpath) / name
                        chosen[path.relative_to(source).as_posix()] = path
            else:
                chosen[match.relative_to(source).as_posix()] = match
    excluded = {rel for pattern in exclude for rel in chosen if PurePosixPath(rel).match(pattern)}
    copied = 0
    for relative in sorted(chosen.keys() - excluded):
        path = chosen[relative]
        target = dest / (PurePosixPath(relative).name if discard_paths else relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            if target.is_symlink() or target.exists():
                target.unlink()
            os.symlink(os.readlink(path), target)
        else:
            shutil.copyfile(path, target)
            target.chmod(0o755 if path.stat().st_mode & 0o111 else 0o644)
        copied += 1
    return copied


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


def extract_zip(archive: Path, dest: Path) -> int:
    """Extract a zip (keeping exec bits, refusing entries outside dest); return files written."""
    dest.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                parts = PurePosixPath(info.filename).parts
                if PurePosixPath(info.filename).is_absolute() or ".." in parts:
                    raise ActionFailure(
                        "JobFailed", f"zip entry '{info.filename}' would land outside the artifact"
                    )
                target = dest.joinpath(*parts)
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as reader, target.open("wb") as writer:
                    shutil.copyfileobj(reader, writer)
                mode = (info.external_attr >> 16) & 0o777
                target.chmod(0o755 if mode & 0o111 else 0o644)
                written += 1
    except zipfile.BadZipFile as error:
        raise ActionFailure("JobFailed", f"{archive.name} is not a valid zip: {error}") from error
    return written


def make_zip(source: Path, archive: Path) -> int:
    """Zip a tree deterministically (sorted entries, fixed timestamps); return files added."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    added = 0
    partial = archive.with_name(archive.name + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for dirpath, dirnames, filenames in os.walk(source):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                info = zipfile.ZipInfo(path.relative_to(source).as_posix(), _ZIP_EPOCH)
                executable = path.stat().st_mode & 0o111
                info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, path.read_bytes())
                added += 1
    # Readers of the bucket never see a half-written object.
    os.replace(partial, archive)
    return added


def copy_into(source: Path, dest: Path) -> None:
    copy_tree(source, dest)
