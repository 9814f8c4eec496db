"""GetPipeline and ListPipelines as CodePipeline answers them, for the CLI and the API alike."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

from domain.errors import ValidationException
from domain.pipeline import Pipeline
from projections.codepipeline import pipeline_declaration, pipeline_metadata, pipeline_summary

# ListPipelines' page size when none is asked for, and the most one page may hold (the model's).
LIST_PIPELINES_MAX = 1000


def get_pipeline(
    pipeline: Pipeline, version: int | None = None, *, region: str, account: str
) -> dict[str, Any]:
    """GetPipeline: the definition of `version` (default the current one) and the metadata."""
    pipeline.declaration(version)  # refuses a version the pipeline never had
    document = pipeline.definitions[(version or pipeline.pipeline_version) - 1]
    return {
        "pipeline": pipeline_declaration(document, account=account),
        "metadata": pipeline_metadata(pipeline, region=region, account=account),
    }


def list_pipelines(
    names: Sequence[str],
    load: Callable[[str], Pipeline],
    *,
    max_results: int = LIST_PIPELINES_MAX,
    next_token: str | None = None,
) -> dict[str, Any]:
    """ListPipelines: summaries in name order, a page at a time; the token names the last one."""
    ordered = sorted(names)
    if next_token is not None:
        after = _untoken(next_token)
        ordered = [name for name in ordered if name > after]
    page = ordered[:max_results]
    body: dict[str, Any] = {"pipelines": [pipeline_summary(load(name)) for name in page]}
    if len(ordered) > max_results:
        body["nextToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
    return body


def _untoken(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValidationException("nextToken: not a token ListPipelines gave") from None
