"""The S3 source provider: an object (a file) in a local bucket directory."""

from __future__ import annotations

import hashlib
import shutil
from datetime import UTC, datetime
from pathlib import Path

from domain.vocabulary import ActionCategory
from engine.providers.base import (
    REVISION_UNAVAILABLE,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    Revision,
    config_error,
    guarded,
)
from engine.providers.files import bucket_dir, extract_zip, inside
from engine.providers.process import ActionLog


class S3SourceProvider:
    """Outputs the object: a .zip is extracted like CodePipeline does, anything else copied."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, ActionCategory.SOURCE)
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        config = request.configuration
        bucket_name = config.get("S3Bucket", "").strip()
        key = config.get("S3ObjectKey", "").strip()
        bucket = bucket_dir(request.buckets_root, bucket_name, "S3Bucket")
        if not key:
            raise config_error("S3ObjectKey is required")
        if not bucket.is_dir():
            raise config_error(f"S3Bucket '{bucket_name}': no bucket directory at {bucket}")
        obj = inside(bucket, key, "S3ObjectKey")
        if not obj.is_file():
            raise ActionFailure(REVISION_UNAVAILABLE, f"S3ObjectKey '{key}': no object at {obj}")
        log.line(f"object {obj}")

        etag, version = _digests(obj)
        created = datetime.fromtimestamp(obj.stat().st_mtime, UTC)

        name = next(iter(request.output_artifacts), None) or "SourceArtifact"
        output = request.workdir / "out" / name
        output.mkdir(parents=True, exist_ok=True)
        if obj.suffix.lower() == ".zip":
            count = extract_zip(obj, output)
            log.line(f"extracted {count} file(s) from {key}")
        else:
            shutil.copyfile(obj, output / obj.name)
            log.line(f"copied {key}")
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


def _digests(path: Path) -> tuple[str, str]:
    """(MD5, SHA-256) of a file in hex: S3's ETag of a simple upload, and a version id."""
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            md5.update(chunk)
            sha256.update(chunk)
    return md5.hexdigest(), sha256.hexdigest()
