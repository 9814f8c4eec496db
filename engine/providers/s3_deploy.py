"""The S3 deploy provider: extract (or zip) the input artifact into a local bucket directory."""

from __future__ import annotations

from pathlib import PurePosixPath

from domain.vocabulary import ActionCategory
from engine.artifacts import copy_tree
from engine.providers.base import (
    JOB_FAILED,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    config_error,
    guarded,
)
from engine.providers.files import bucket_dir, make_zip
from engine.providers.process import ActionLog
from engine.safepath import PathRefused


class S3DeployProvider:
    """Extract=true copies the tree under an optional ObjectKey prefix; false zips to ObjectKey."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, ActionCategory.DEPLOY)
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        config = request.configuration
        bucket_name = config.get("BucketName", "").strip()
        bucket = bucket_dir(request.buckets_root, bucket_name, "BucketName")
        extract_text = config.get("Extract", "true").strip().lower() or "true"
        if extract_text not in ("true", "false"):
            raise config_error(f"Extract must be 'true' or 'false', not '{config['Extract']}'")
        extract = extract_text == "true"
        key = config.get("ObjectKey", "").strip()
        if len(request.input_artifacts) != 1:
            raise config_error(
                f"S3 deploy takes exactly one input artifact, got {len(request.input_artifacts)}"
            )
        (source,) = request.input_artifacts.values()
        if not extract and not key:
            raise config_error("ObjectKey is required when Extract is false")

        # The bucket folder is where the user pointed; everything below it is reached without
        # following links, and a link an earlier deploy left there is replaced, not followed.
        try:
            if extract:
                parts = _key_parts(key.strip("/"))
                target = bucket.joinpath(*parts)
                log.line(f"extracting into {target}")
                count = copy_tree(source, bucket, under=parts, note=log.line)
            else:
                parts = _key_parts(key)
                if not parts:
                    raise config_error(f"ObjectKey '{key}' must name an object")
                target = bucket.joinpath(*parts)
                log.line(f"zipping into {target}")
                count = make_zip(source, bucket, parts, log.line)
        except PathRefused as error:
            raise ActionFailure(JOB_FAILED, f"cannot deploy into {bucket}: {error}") from error
        summary = f"deployed {count} file(s) to {target}"
        log.line(summary)
        return ActionOutcome(
            succeeded=True,
            summary=summary,
            external_execution_id=str(target),
            external_execution_url=target.as_uri(),
        )


def _key_parts(key: str) -> tuple[str, ...]:
    pure = PurePosixPath(key)
    if pure.is_absolute() or ".." in pure.parts:
        raise config_error(f"ObjectKey '{key}' must be a relative path inside its directory")
    return tuple(part for part in pure.parts if part != ".")
