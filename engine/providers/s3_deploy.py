"""The S3 deploy provider: extract (or zip) the input artifact into a local bucket directory."""

from __future__ import annotations

from domain.vocabulary import ActionCategory
from engine.providers.base import ActionOutcome, ActionRequest, config_error, guarded
from engine.providers.files import bucket_dir, copy_into, count_files, inside, make_zip
from engine.providers.process import ActionLog


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

        bucket.mkdir(parents=True, exist_ok=True)
        if extract:
            target = inside(bucket, key.strip("/"), "ObjectKey") if key.strip("/") else bucket
            log.line(f"extracting into {target}")
            copy_into(source, target)
            count = count_files(source)
        else:
            target = inside(bucket, key, "ObjectKey")
            log.line(f"zipping into {target}")
            count = make_zip(source, target)
        summary = f"deployed {count} file(s) to {target}"
        log.line(summary)
        return ActionOutcome(
            succeeded=True,
            summary=summary,
            external_execution_id=str(target),
            external_execution_url=target.as_uri(),
        )
