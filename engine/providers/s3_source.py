"""The S3 source provider: an object (a file) in a local bucket directory."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from functools import partial
from pathlib import PurePosixPath
from typing import BinaryIO

from domain.vocabulary import ActionCategory
from engine.providers.base import (
    JOB_FAILED,
    REVISION_UNAVAILABLE,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    Revision,
    config_error,
    guarded,
)
from engine.providers.files import bucket_dir, extract_zip
from engine.providers.process import ActionLog
from engine.safepath import Folder, PathRefused


class S3SourceProvider:
    """Outputs the object: a .zip is extracted like CodePipeline does, anything else copied."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, ActionCategory.SOURCE)
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        config = request.configuration
        bucket_name = config.get("S3Bucket", "").strip()
        key = config.get("S3ObjectKey", "").strip()
        revision = request.revision or {}
        if revision.get("revisionType") == "S3_OBJECT_KEY":
            # sourceRevisions: another object of the same bucket, held to the same path rules.
            key = revision.get("revisionValue", "").strip()
        bucket = bucket_dir(request.buckets_root, bucket_name, "S3Bucket")
        if not key:
            raise config_error("S3ObjectKey is required")
        if not bucket.is_dir():
            raise config_error(f"S3Bucket '{bucket_name}': no bucket directory at {bucket}")
        pure = PurePosixPath(key)
        if pure.is_absolute() or ".." in pure.parts:
            raise config_error(f"S3ObjectKey '{key}' must be a relative path inside its bucket")
        obj = bucket.joinpath(*pure.parts)
        name = next(iter(request.output_artifacts), None) or "SourceArtifact"
        output = request.workdir / "out" / name
        # The object is opened from the bucket folder down without following any link: an
        # object that is a link (or sits below one) is refused, never read through.
        try:
            with (
                Folder.root(bucket, create=False) as root,
                root.open_file([p for p in pure.parts if p != "."]) as handle,
            ):
                log.line(f"object {obj}")
                etag, version = _digests(handle)
                created = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
                handle.seek(0)
                if obj.suffix.lower() == ".zip":
                    count = extract_zip(handle, key, output, log.line)
                    log.line(f"extracted {count} file(s) from {key}")
                else:
                    with Folder.root(output) as out:
                        out.write(obj.name, partial(shutil.copyfileobj, handle), 0o644)
                    log.line(f"copied {key}")
        except FileNotFoundError as error:
            raise ActionFailure(
                REVISION_UNAVAILABLE, f"S3ObjectKey '{key}': no object at {obj}"
            ) from error
        except PathRefused as error:
            raise ActionFailure(JOB_FAILED, f"S3ObjectKey '{key}': {error}") from error
        return ActionOutcome(
            succeeded=True,
            summary=key,
            output_artifacts={name: output},
            output_variables={"ETag": etag, "VersionId": version, "S3ObjectKey": key},
            revision=Revision(
                revision_id=version,
                revision_change_id=version[:12],
                summary=key,
                created=created,
                url=obj.as_uri(),
            ),
            external_execution_id=version,
            external_execution_url=obj.as_uri(),
        )


def _digests(handle: BinaryIO) -> tuple[str, str]:
    """(MD5, SHA-256) of a file in hex: S3's ETag of a simple upload, and a version id."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    while chunk := handle.read(1 << 20):
        md5.update(chunk)
        sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()
