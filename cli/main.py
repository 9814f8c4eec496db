"""The `conveyor` Typer app: CodePipeline's operations on a local event store."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import render, service
from cli.access_keys import access_key_app
from cli.context import actor, handled, out, print_json, report_fault, system
from cli.explore import explore_command
from cli.lookup import find_execution
from cli.reports import (
    audit_app,
    billing_app,
    pipeline_diff_command,
    projections_app,
    replay_command,
    simulate_command,
    state_document,
)
from cli.secrets import secrets_app
from cli.tags import action_types_command, tag_app
from domain.errors import InvalidDefinition, ValidationException
from domain.vocabulary import ApprovalStatus, ExecutionStatus, RetryMode

# The engine, the domain model, validation (pydantic) and the views load inside the commands
# that use them, so `--help` and the read commands import only what they need.
if TYPE_CHECKING:
    from domain.execution import PipelineExecution
    from domain.pipeline import Pipeline
    from engine.bootstrap import System

app = typer.Typer(
    name="conveyor",
    help="Local-first, event-sourced continuous delivery with AWS CodePipeline's model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
pipeline_app = typer.Typer(
    help="Create, change and inspect pipeline definitions.", no_args_is_help=True
)
executions_app = typer.Typer(help="Execution history.", no_args_is_help=True)
transition_app = typer.Typer(
    help="Disable or enable a stage's inbound transition.", no_args_is_help=True
)
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(executions_app, name="executions")
app.add_typer(transition_app, name="transition")
app.add_typer(billing_app, name="billing")
app.add_typer(audit_app, name="audit")
app.add_typer(projections_app, name="projections")
app.add_typer(secrets_app, name="secrets")
app.add_typer(access_key_app, name="access-key")
app.add_typer(tag_app, name="tag")
app.command("action-types")(action_types_command)
app.command("simulate")(simulate_command)
app.command("explore")(explore_command)
pipeline_app.command("diff")(pipeline_diff_command)
service.register(app)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
Comment = Annotated[str, typer.Option("--comment", "-m", help="Why (the summary).")]
Token = Annotated[str | None, typer.Option(help="The approval run's token.")]
Wait = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="Run the execution's actions here, with progress, until it ends or waits on a person.",
    ),
]


def read_definition(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    from engine.inputs import UnreadableInput, read_text

    try:
        return read_text(path, "json")
    except UnreadableInput as error:
        raise InvalidDefinition([error.problem]) from None


def progress(show: bool) -> render.Progress | None:
    return render.Progress() if show else None


def command_line() -> str:
    import shlex

    return shlex.join(["conveyor", *sys.argv[1:]])


def settle(
    sys_: System, pipeline_name: str, execution_ids: list[str], wait: bool, as_json: bool
) -> None:
    """After a recorded decision: run the executions here (--wait), or say what waits."""
    from cli import waiting

    if wait:
        waiting.wait_for(sys_, execution_ids, progress(not as_json))
    else:
        waiting.report_waiting(sys_, pipeline_name, command_line())


def finish(
    execution: PipelineExecution, as_json: bool, response: dict[str, Any] | None = None
) -> None:
    """Report where an execution ended up after driving; non-zero if it did not succeed.

    With --json: `response`, the command's own operation's response, when the command returned
    at once; after --wait, the execution as GetPipelineExecution describes it (both are
    CodePipeline's shapes, which allow no extra members)."""
    from domain.execution import TERMINAL_STATUSES
    from projections.codepipeline import execution_document

    if as_json:
        print_json(
            response
            if response is not None
            else {"pipelineExecution": execution_document(execution)}
        )
    else:
        line = f"execution {execution.execution_id}: {render.styled(execution.status)}"
        if execution.status_summary:
            line += f" — {execution.status_summary}"
        out.print(line)
        if execution.waiting:
            out.print(f"  waiting at {execution.waiting['stage']} ({execution.waiting['reason']})")
        for run in execution.in_progress_runs():
            if run["token"]:
                out.print(
                    f"  [yellow]waiting for approval[/] at {run['stage']}/{run['action']}: "
                    f"conveyor approve {execution.pipeline_name} {run['stage']} {run['action']}"
                    f" --comment '...'"
                )
    if execution.status in TERMINAL_STATUSES and execution.status != ExecutionStatus.SUCCEEDED:
        raise typer.Exit(1)


def parse_vars(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValidationException(f"--var: '{pair}' is not NAME=VALUE")
        values[name] = value
    return values


def parse_source_revisions(values: list[str]) -> list[dict[str, str]]:
    """--source-revision ACTION=TYPE:VALUE as CodePipeline's sourceRevisions."""
    revisions = []
    for text in values:
        action, sep, rest = text.partition("=")
        revision_type, colon, value = rest.partition(":")
        if not sep or not colon or not action:
            raise ValidationException(f"--source-revision: '{text}' is not ACTION=TYPE:VALUE")
        revisions.append(
            {"actionName": action, "revisionType": revision_type, "revisionValue": value}
        )
    return revisions


# ----- workspace -----------------------------------------------------------------------------


@app.command()
@handled
def init(as_json: JsonFlag = False) -> None:
    """Create the workspace store (.conveyor/ here, or CONVEYOR_HOME) and set up its tables."""
    from engine.bootstrap import init_workspace

    built = init_workspace()
    try:
        settings = built.settings
        names = built.app.pipeline_names()
    finally:
        built.close()
    where = settings.store_label()
    if as_json:
        print_json({"home": str(settings.home), "store": where, "pipelines": len(names)})
    else:
        out.print(f"workspace ready: {settings.home}\nevent store: {where}")


# ----- pipelines -----------------------------------------------------------------------------


@pipeline_app.command("validate")
@handled
def pipeline_validate(file: Path, as_json: JsonFlag = False) -> None:
    """Check a definition and list every problem with its JSON path and rule."""
    from domain.validation import parse_definition
    from engine.secrets import SecretStore, require_secrets
    from engine.settings import load_settings

    settings = load_settings()
    declaration = parse_definition(read_definition(file), settings.limits)
    require_secrets(declaration, SecretStore(settings.home))
    if as_json:
        print_json({"valid": True, "name": declaration.name})
    else:
        out.print(
            f"[green]valid[/]: pipeline '{declaration.name}' with {len(declaration.stages)} stages"
        )


@pipeline_app.command("schema")
def pipeline_schema() -> None:
    """Print the JSON Schema of pipeline definitions."""
    from domain.validation import pipeline_json_schema

    print_json(pipeline_json_schema())


@pipeline_app.command("create")
@handled
def pipeline_create(
    file: Path,
    no_start: Annotated[bool, typer.Option("--no-start", help="Don't start an execution.")] = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a pipeline; like CodePipeline, this starts its first execution."""
    from engine.service import CreatePipeline
    from projections.codepipeline import pipeline_declaration

    source = read_definition(file)

    def announce(created: tuple[Pipeline, str | None]) -> None:
        pipeline, execution_id = created
        if as_json:
            return
        out.print(f"created pipeline [bold]{pipeline.name}[/] version 1")
        if execution_id is not None:
            out.print(f"started execution {execution_id} (trigger CreatePipeline)")

    with system() as sys_:
        pipeline, execution_id = sys_.service().execute(
            CreatePipeline(source, by=actor(), start=not no_start), announce=announce
        )
        # CreatePipeline's response
        created = {
            "pipeline": pipeline_declaration(pipeline.document, account=sys_.settings.account)
        }
        if execution_id is None:
            if as_json:
                print_json(created)
            return
        settle(sys_, pipeline.name, [execution_id], wait, as_json)
        finish(sys_.app.execution(execution_id), as_json, None if wait else created)


@pipeline_app.command("update")
@handled
def pipeline_update(file: Path, wait: Wait = False, as_json: JsonFlag = False) -> None:
    """Replace the definition (a new version); executions in flight are cancelled."""
    from engine.service import UpdatePipeline
    from projections.codepipeline import pipeline_declaration

    with system() as sys_:
        pipeline = sys_.service().execute(UpdatePipeline(read_definition(file), by=actor()))
        settle(sys_, pipeline.name, list(pipeline.active), wait, as_json)
        if as_json:
            print_json(
                {"pipeline": pipeline_declaration(pipeline.document, account=sys_.settings.account)}
            )
        else:
            out.print(
                f"updated pipeline [bold]{pipeline.name}[/] to version {pipeline.pipeline_version}"
            )


@pipeline_app.command("get")
@handled
def pipeline_get(
    name: str,
    version: Annotated[int | None, typer.Option(help="An earlier version.", min=1)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print the definition as `aws codepipeline get-pipeline` does (JSON with or without
    --json: GetPipeline's response)."""
    from projections.definitions import get_pipeline

    with system() as sys_:
        settings = sys_.settings
        document = get_pipeline(
            sys_.app.pipeline(name), version, region=settings.region, account=settings.account
        )
        print_json(document)


@pipeline_app.command("list")
@handled
def pipeline_list(as_json: JsonFlag = False) -> None:
    """List pipelines."""
    from projections.definitions import list_pipelines

    with system() as sys_:
        names = sys_.app.pipeline_names()
        listing = list_pipelines(names, sys_.app.pipeline, max_results=max(len(names), 1))
        summaries = listing["pipelines"]
    if as_json:
        print_json({"pipelines": summaries})
        return
    for item in summaries:
        out.print(
            f"{item['name']}  v{item['version']}  {item['pipelineType']}  "
            f"{item['executionMode']}  created {render.when(item['created'])}"
        )
    if not summaries:
        out.print("[dim]no pipelines yet: conveyor pipeline create FILE[/]")


@pipeline_app.command("delete")
@handled
def pipeline_delete(name: str, as_json: JsonFlag = False) -> None:
    """Delete a pipeline (its history stays in the event log)."""
    from engine.service import DeletePipeline

    with system() as sys_:
        deleted = sys_.service().execute(DeletePipeline(name, by=actor()))
    if as_json:
        print_json({"deleted": deleted})
    else:
        out.print(f"deleted pipeline {name}" if deleted else f"no pipeline named {name}")


# ----- executions ----------------------------------------------------------------------------


@app.command()
@handled
def start(
    name: str,
    var: Annotated[list[str] | None, typer.Option("--var", help="NAME=VALUE override.")] = None,
    client_request_token: Annotated[
        str | None,
        typer.Option(
            "--client-request-token",
            help="Idempotency token: a repeat returns the same execution and starts nothing.",
        ),
    ] = None,
    source_revision: Annotated[
        list[str] | None,
        typer.Option(
            "--source-revision",
            help="ACTION=TYPE:VALUE, e.g. Checkout=COMMIT_ID:<full commit id>.",
        ),
    ] = None,
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Start an execution: record it and return (with --wait, run it here until it settles)."""
    from engine.service import StartPipelineExecution

    variables = parse_vars(var or [])
    revisions = parse_source_revisions(source_revision or [])

    def announce(execution_id: str) -> None:
        if not as_json:
            out.print(f"started execution {execution_id}")

    with system() as sys_:
        execution_id = sys_.service().execute(
            StartPipelineExecution(
                name,
                by=actor(),
                variables=variables,
                client_request_token=client_request_token,
                source_revisions=revisions,
            ),
            announce=announce,
        )
        settle(sys_, name, [execution_id], wait, as_json)
        started = {"pipelineExecutionId": execution_id}  # StartPipelineExecution's response
        finish(sys_.app.execution(execution_id), as_json, None if wait else started)


@executions_app.command("list")
@handled
def executions_list(
    name: str,
    status: Annotated[str | None, typer.Option(help="Only executions with this status.")] = None,
    succeeded_in_stage: Annotated[
        str | None, typer.Option("--succeeded-in-stage", help="Only those that passed STAGE.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, max=100)] = 100,
    next_token: Annotated[str | None, typer.Option("--next-token")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The pipeline's executions, most recent first (ListPipelineExecutions)."""
    from projections.history import list_executions

    with system() as sys_:
        sys_.app.pipeline(name)
        with sys_.views().engine.connect() as conn:
            body = list_executions(
                conn,
                name,
                status=status,
                succeeded_in_stage=succeeded_in_stage,
                max_results=max_results,
                next_token=next_token,
                retention_months=sys_.settings.history_retention_months,
            )
    if as_json:
        print_json(body)
    else:
        render.executions(body["pipelineExecutionSummaries"])
        if body.get("nextToken"):
            out.print(f"[dim]more: --next-token {body['nextToken']}[/]")


@executions_app.command("actions")
@handled
def executions_actions(
    name: str,
    execution_id: Annotated[
        str | None, typer.Option("--execution-id", help="Only this execution's actions.")
    ] = None,
    max_results: Annotated[int, typer.Option("--max-results", min=1, max=100)] = 100,
    next_token: Annotated[str | None, typer.Option("--next-token")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Every action attempt of the pipeline, most recent first (ListActionExecutions)."""
    from projections.history import list_action_executions

    with system() as sys_:
        sys_.app.pipeline(name)
        if execution_id is not None:
            execution_id = find_execution(sys_, execution_id).execution_id
        with sys_.views().engine.connect() as conn:
            body = list_action_executions(
                conn,
                name,
                execution_id=execution_id,
                max_results=max_results,
                next_token=next_token,
                retention_months=sys_.settings.history_retention_months,
            )
    if as_json:
        print_json(body)
        return
    for row in body["actionExecutionDetails"]:
        out.print(
            f"{row['stageName']}/{row['actionName']}  {render.styled(row['status'])}  "
            f"started {render.when(row.get('startTime'))}  {row['pipelineExecutionId']}"
        )
    if body.get("nextToken"):
        out.print(f"[dim]more: --next-token {body['nextToken']}[/]")


@executions_app.command("replay")
@handled
def executions_replay(
    execution_id: str,
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Skip re-deriving the planner's decisions.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """An execution's timeline step by step from its events; checks the decisions still hold."""
    replay_command(execution_id, check=not no_check, as_json=as_json)


@executions_app.command("show")
@handled
def executions_show(execution_id: str, as_json: JsonFlag = False) -> None:
    """One execution: status, revisions, variables and every action attempt."""
    from projections.codepipeline import (
        action_execution_details,
        execution_detail,
        execution_document,
    )

    with system() as sys_:
        execution = find_execution(sys_, execution_id)
        document = execution_document(execution)
        details = action_execution_details(execution, region=sys_.settings.region)
        attempts = {aeid: job.attempts for aeid, job in sys_.app.jobs_of(execution).items()}
    if as_json:
        # GetPipelineExecution's response, with ListActionExecutions' items for this execution.
        print_json({"pipelineExecution": document, "actionExecutionDetails": details})
    else:
        # People also see what CodePipeline's shapes have no member for.
        numbered = [
            {**d, "attempt": execution.actions[d["actionExecutionId"]]["attempt"]} for d in details
        ]
        render.execution({**document, **execution_detail(execution)}, numbered, attempts)


@app.command()
@handled
def logs(
    execution_id: str,
    stage: Annotated[str | None, typer.Argument()] = None,
    action: Annotated[str | None, typer.Argument()] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the execution settles.")
    ] = False,
) -> None:
    """Print the logs of an execution's actions (every attempt), or of one action."""
    from cli import waiting
    from engine.runner import log_path

    with system() as sys_:
        execution = find_execution(sys_, execution_id)
        offsets: dict[str, int] = {}
        shown: set[str] = set()

        def show_new() -> None:
            runs = _runs_of(execution, stage, action, required=not follow)
            jobs = sys_.app.jobs_of(execution)
            for run in runs:
                path = log_path(sys_.settings, execution.execution_id, run["id"])
                if run["id"] not in shown:
                    shown.add(run["id"])
                    out.print(
                        f"[bold]== {run['stage']}/{run['action']} attempt {run['attempt']} "
                        f"({run['status']}) {run['id']}[/]"
                    )
                    job = jobs.get(run["id"])
                    if job is not None and job.attempts:
                        out.print(f"[dim]   {render.job_attempts(job.attempts)}[/]")
                    if not path.exists() and not follow:
                        note = "manual approval: no log" if run["token"] else "no log"
                        out.print(f"[dim]({note})[/]")
                if follow:
                    offsets[run["id"]] = waiting.print_new_lines(path, offsets.get(run["id"], 0))
                elif path.exists():
                    sys.stdout.write(path.read_text(errors="replace"))
                    sys.stdout.flush()

        show_new()
        if not follow:
            return
        try:
            while not waiting.settled(sys_, execution):
                time.sleep(waiting.FOLLOW_POLL_SECONDS)
                execution = sys_.app.execution(execution.execution_id)
                show_new()
            show_new()
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        out.print(f"execution {execution.execution_id}: {render.styled(execution.status)}")


def _runs_of(
    execution: PipelineExecution, stage: str | None, action: str | None, *, required: bool
) -> list[Any]:
    """The execution's action runs in start order, or those at stage (and action)."""
    runs = sorted(execution.actions.values(), key=lambda r: r["started_at"])
    if not stage:
        return runs
    runs = [r for r in runs if r["stage"] == stage and (not action or r["action"] == action)]
    if not runs and required:
        raise ValidationException(
            f"stage/action: execution {execution.execution_id} ran nothing at "
            f"{stage}{'/' + action if action else ''}"
        )
    return runs


def _current_state_fast(name: str) -> dict[str, Any] | None:
    """The state view's row read with sqlite3 alone, when the view is current (else None)."""
    from engine.settings import load_settings
    from projections import fastread

    settings = load_settings()
    if settings.database_url or settings.persistence != "native":
        return None
    return fastread.current_state(settings.database_path, name)


@app.command()
@handled
def state(
    name: str,
    at: Annotated[
        str | None, typer.Option("--at", help="An ISO 8601 instant: the state as it was then.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The pipeline's current state (GetPipelineState), or its state at an earlier instant."""
    document = None if at is not None else _current_state_fast(name)
    if document is None:
        with system() as sys_:
            if at is None:
                sys_.app.pipeline(name)  # PipelineNotFoundException for a name that isn't live
            document = state_document(sys_, name, at)
    if as_json:
        print_json(document)
    else:
        render.state(document)


def _approval(
    name: str,
    stage: str,
    action: str,
    status: str,
    comment: str,
    token: str | None,
    wait: bool,
    as_json: bool,
) -> None:
    from engine.service import PutApprovalResult

    def announce(at: datetime) -> None:
        if as_json:
            print_json({"approvedAt": at.timestamp()})
        else:
            out.print(f"{status.lower()} {stage}/{action} of {name} as {actor()}")

    command = PutApprovalResult(
        name, stage=stage, action=action, status=status, summary=comment, by=actor(), token=token
    )
    with system() as sys_:
        waiting_here = _awaiting_approval(sys_, name, stage, action)
        sys_.service().execute(command, announce=announce)
        settle(sys_, name, waiting_here, wait, as_json)


def _awaiting_approval(sys_: System, name: str, stage: str, action: str) -> list[str]:
    """The executions whose approval at stage/action waits for an answer."""
    pipeline = sys_.app.pipeline(name)
    found = []
    for execution_id in pipeline.active:
        runs = sys_.app.execution(execution_id).in_progress_runs(stage)
        if any(run["action"] == action and run["token"] for run in runs):
            found.append(execution_id)
    return found


@app.command()
@handled
def approve(
    name: str,
    stage: str,
    action: str,
    comment: Comment = "",
    token: Token = None,
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Approve a waiting manual approval; the execution then runs on (here with --wait)."""
    _approval(name, stage, action, ApprovalStatus.APPROVED, comment, token, wait, as_json)


@app.command()
@handled
def reject(
    name: str,
    stage: str,
    action: str,
    comment: Comment = "",
    token: Token = None,
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Reject a waiting manual approval; the execution fails."""
    _approval(name, stage, action, ApprovalStatus.REJECTED, comment, token, wait, as_json)


@transition_app.command("disable")
@handled
def transition_disable(
    name: str,
    stage: str,
    reason: Annotated[str, typer.Option(help="Why (required, up to 300 characters).")] = "",
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Stop executions from entering STAGE; they wait in front of it."""
    from engine.service import DisableStageTransition

    with system() as sys_:
        sys_.service().execute(DisableStageTransition(name, stage=stage, reason=reason, by=actor()))
        settle(sys_, name, list(sys_.app.pipeline(name).active), wait, as_json)
    if as_json:
        print_json({"stageName": stage, "enabled": False, "disabledReason": reason})
    else:
        out.print(f"disabled the transition into {stage}: {reason}")


@transition_app.command("enable")
@handled
def transition_enable(name: str, stage: str, wait: Wait = False, as_json: JsonFlag = False) -> None:
    """Let executions enter STAGE again; the latest one waiting goes in."""
    from engine.service import EnableStageTransition

    def announce(_: None) -> None:
        if not as_json:
            out.print(f"enabled the transition into {stage}")

    with system() as sys_:
        command = EnableStageTransition(name, stage=stage, by=actor())
        sys_.service().execute(command, announce=announce)
        settle(sys_, name, list(sys_.app.pipeline(name).active), wait, as_json)
    if as_json:
        print_json({"stageName": stage, "enabled": True})


@app.command()
@handled
def stop(
    execution_id: str,
    abandon: Annotated[bool, typer.Option("--abandon", help="Abandon running actions.")] = False,
    reason: Annotated[str, typer.Option(help="Why (up to 200 characters).")] = "",
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Stop an execution: let running actions finish (default) or abandon them."""
    from engine.service import StopPipelineExecution
    from projections.codepipeline import execution_document

    with system() as sys_:
        execution = find_execution(sys_, execution_id)
        sys_.service().execute(
            StopPipelineExecution(
                execution.pipeline_name,
                execution_id=execution.execution_id,
                abandon=abandon,
                reason=reason,
                by=actor(),
            )
        )
        settle(sys_, execution.pipeline_name, [execution.execution_id], wait, as_json)
        after = sys_.app.execution(execution.execution_id)
    if as_json and wait:
        print_json({"pipelineExecution": execution_document(after)})
    elif as_json:
        print_json({"pipelineExecutionId": after.execution_id})  # StopPipelineExecution's
    else:
        out.print(f"execution {after.execution_id}: {render.styled(after.status)}")


@app.command()
@handled
def retry(
    execution_id: str,
    stage: str,
    all_actions: Annotated[bool, typer.Option("--all", help="Rerun every action.")] = False,
    wait: Wait = False,
    as_json: JsonFlag = False,
) -> None:
    """Retry a failed or stopped stage of an execution (FAILED_ACTIONS, or ALL_ACTIONS)."""
    from engine.service import RetryStageExecution

    with system() as sys_:
        execution = find_execution(sys_, execution_id)

        def announce(_: None) -> None:
            if not as_json:
                out.print(f"retrying {stage} of {execution.execution_id}")

        sys_.service().execute(
            RetryStageExecution(
                execution.pipeline_name,
                stage=stage,
                execution_id=execution.execution_id,
                retry_mode=RetryMode.ALL_ACTIONS if all_actions else RetryMode.FAILED_ACTIONS,
                by=actor(),
            ),
            announce=announce,
        )
        settle(sys_, execution.pipeline_name, [execution.execution_id], wait, as_json)
        retried = {"pipelineExecutionId": execution.execution_id}  # RetryStageExecution's
        finish(sys_.app.execution(execution.execution_id), as_json, None if wait else retried)


@app.command()
@handled
def tick(
    name: Annotated[str | None, typer.Argument(help="One pipeline (default: all).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Let the clock act: time out overdue actions and approvals, then run what that unlocks."""
    from engine.service import Tick

    with system() as sys_:
        names = [name] if name else sys_.app.pipeline_names()
        for each in names:
            sys_.service().execute(Tick(each), listener=progress(not as_json), drive=True)
    if as_json:
        print_json({"pipelines": names})
    else:
        out.print(f"ticked {len(names)} pipeline{'s' if len(names) != 1 else ''}")


@app.command()
@handled
def explain(execution_id: str, as_json: JsonFlag = False) -> None:
    """Why an execution is where it is: waiting, superseded, cancelled, stopped or failed."""
    from projections.explain import explain as explain_facts

    with system() as sys_:
        execution = find_execution(sys_, execution_id)
        pipeline = sys_.app.pipeline_of(execution)
        facts = explain_facts(execution, pipeline, sys_.app.execution, sys_.app.clock.now())
    if as_json:
        print_json({"pipelineExecutionId": execution.execution_id, "facts": facts})
    else:
        for fact in facts:
            out.print(fact, markup=False)


def main() -> None:
    try:
        app()
    except Exception as error:  # raised outside a command's own handling (settings, a pipe)
        raise SystemExit(report_fault(error)) from None


if __name__ == "__main__":
    main()


__all__ = ["app", "json", "main"]
