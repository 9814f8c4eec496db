"""Human output: tables and progress lines in the terminal (machines use --json)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table

from cli.context import out
from domain.vocabulary import ActionStatus, ExecutionStatus

if TYPE_CHECKING:  # annotations only: importing the engine here would load it for --help
    from engine.app import ActionResult, ActionWork

STATUS_STYLE: dict[str, str] = {
    ExecutionStatus.SUCCEEDED: "green",
    ExecutionStatus.IN_PROGRESS: "cyan",
    ExecutionStatus.FAILED: "red",
    ExecutionStatus.STOPPED: "yellow",
    ExecutionStatus.STOPPING: "yellow",
    ExecutionStatus.SUPERSEDED: "magenta",
    ExecutionStatus.CANCELLED: "magenta",
    ActionStatus.ABANDONED: "yellow",
}


def styled(status: str | None) -> str:
    if not status:
        return "[dim]-[/]"
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def short(identifier: str | None) -> str:
    return identifier[:8] if identifier else "-"


def state(document: dict[str, Any]) -> None:
    out.print(f"[bold]{document['pipelineName']}[/] version {document['pipelineVersion']}")
    table = Table(show_header=True, header_style="bold")
    for column in ("stage", "transition", "execution", "action", "status", "summary"):
        table.add_column(column)
    for stage in document["stageStates"]:
        transition = stage["inboundTransitionState"]
        gate = (
            "enabled"
            if transition["enabled"]
            else (f"[red]disabled[/] ({transition.get('disabledReason', '')})")
        )
        latest = stage.get("latestExecution") or {}
        waiting = stage.get("inboundExecutions") or []
        execution = short(latest.get("pipelineExecutionId"))
        if waiting:
            execution += (
                " [dim](waiting: "
                + ", ".join(short(w["pipelineExecutionId"]) for w in waiting)
                + ")[/]"
            )
        first = True
        for action in stage["actionStates"]:
            run = action.get("latestExecution") or {}
            summary = run.get("summary") or (run.get("errorDetails") or {}).get("message") or ""
            if run.get("token"):
                summary = f"waiting for approval (token {run['token']})"
            table.add_row(
                stage["stageName"] if first else "",
                gate if first else "",
                execution if first else "",
                action["actionName"],
                styled(run.get("status")),
                summary[:80],
            )
            first = False
    out.print(table)


def execution(
    document: dict[str, Any],
    details: list[dict[str, Any]],
    attempts: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> None:
    out.print(
        f"[bold]execution {document['pipelineExecutionId']}[/] of {document['pipelineName']} "
        f"v{document['pipelineVersion']}: {styled(document['status'])}"
    )
    if document.get("statusSummary"):
        out.print(f"  {document['statusSummary']}")
    trigger = document["trigger"]
    out.print(
        f"  trigger {trigger['triggerType']} ({trigger.get('triggerDetail') or '-'}),"
        f" started {when(document['startTime'])}"
    )
    for revision in document["artifactRevisions"]:
        out.print(f"  revision {revision['revisionId']} {revision.get('revisionSummary') or ''}")
    if document.get("waiting"):
        waiting = document["waiting"]
        out.print(f"  [yellow]waiting[/] at {waiting['stageName']}: {waiting['reason']}")
    table = Table(show_header=True, header_style="bold")
    for column in ("stage", "action", "attempt", "status", "started", "detail", "runs"):
        table.add_column(column)
    for row in sorted(details, key=lambda d: (d["startTime"], d["actionExecutionId"])):
        result = row["output"]["executionResult"]
        detail = (
            (result.get("errorDetails") or {}).get("message")
            or result.get("externalExecutionSummary")
            or ""
        )
        table.add_row(
            row["stageName"],
            row["actionName"],
            str(row["attempt"]),
            styled(row["status"]),
            when(row["startTime"]),
            detail[:80],
            job_attempts((attempts or {}).get(row["actionExecutionId"], [])),
        )
    out.print(table)


def job_attempts(attempts: Sequence[Mapping[str, Any]]) -> str:
    """A job's attempts in a line: "attempt 1 worker lost (w1), attempt 2 succeeded (w2)"."""
    parts = []
    for each in attempts:
        outcome = each.get("outcome") or "running"
        parts.append(f"attempt {each['attempt']} {outcome} ({each.get('worker') or '-'})")
    return ", ".join(parts)


def executions(summaries: list[dict[str, Any]]) -> None:
    table = Table(show_header=True, header_style="bold")
    for column in ("execution", "status", "trigger", "revision", "started", "summary"):
        table.add_column(column)
    for item in summaries:
        revisions = ", ".join(r["revisionId"][:10] for r in item["sourceRevisions"])
        table.add_row(
            item["pipelineExecutionId"],
            styled(item["status"]),
            item["trigger"]["triggerType"],
            revisions or "-",
            when(item["startTime"]),
            (item.get("statusSummary") or "")[:60],
        )
    out.print(table)


class Progress:
    """Prints one line as each action starts and ends, while the engine drives."""

    def __init__(self) -> None:
        self.started: dict[str, datetime] = {}

    def __call__(self, what: str, work: ActionWork, result: ActionResult | None) -> None:
        name = f"{work.stage}/{work.action}"
        if what == "started":
            self.started[work.action_execution_id] = datetime.now(UTC)
            out.print(f"  [cyan]▶[/] {name} [dim]({work.action_type['provider']})[/]")
            return
        assert result is not None
        began = self.started.pop(work.action_execution_id, datetime.now(UTC))
        took = (datetime.now(UTC) - began).total_seconds()
        if result.succeeded:
            out.print(f"  [green]✔[/] {name} [dim]{took:.1f}s[/] {result.summary or ''}")
        else:
            out.print(f"  [red]✘[/] {name} [dim]{took:.1f}s[/] {result.error_message or ''}")
