"""CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline, ListPipelines."""

from __future__ import annotations

from typing import Any

from server.operation import Call, Handler
from server.operations.common import execute


def create_pipeline(call: Call) -> dict[str, Any]:
    from engine.service import CreatePipeline

    # Like CodePipeline (and `conveyor pipeline create`), creating starts the first execution.
    tags = call.body.get("tags") or ()
    command = CreatePipeline({"pipeline": call.body["pipeline"]}, by=call.principal.name, tags=tags)
    pipeline, _ = execute(call, command)
    return {"pipeline": pipeline.document, **({"tags": list(tags)} if tags else {})}


def get_pipeline(call: Call) -> dict[str, Any]:
    from projections.definitions import get_pipeline as document

    pipeline = call.system.app.pipeline(call.body["name"])
    settings = call.system.settings
    return document(
        pipeline, call.body.get("version"), region=settings.region, account=settings.account
    )


def update_pipeline(call: Call) -> dict[str, Any]:
    from engine.service import UpdatePipeline

    command = UpdatePipeline({"pipeline": call.body["pipeline"]}, by=call.principal.name)
    return {"pipeline": execute(call, command).document}


def delete_pipeline(call: Call) -> dict[str, Any]:
    from engine.service import DeletePipeline

    # Like CodePipeline, deleting a pipeline that does not exist succeeds.
    execute(call, DeletePipeline(call.body["name"], by=call.principal.name))
    return {}


def list_pipelines(call: Call) -> dict[str, Any]:
    from projections.definitions import LIST_PIPELINES_MAX
    from projections.definitions import list_pipelines as listing

    app = call.system.app
    return listing(
        app.pipeline_names(),
        app.pipeline,
        max_results=call.body.get("maxResults") or LIST_PIPELINES_MAX,
        next_token=call.body.get("nextToken"),
    )


OPERATIONS: dict[str, Handler] = {
    "CreatePipeline": create_pipeline,
    "GetPipeline": get_pipeline,
    "UpdatePipeline": update_pipeline,
    "DeletePipeline": delete_pipeline,
    "ListPipelines": list_pipelines,
}
