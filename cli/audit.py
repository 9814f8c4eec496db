"""`conveyor audit`: the trail, its signed export, and verifying an export or the store."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from cli.context import err, handled, out, print_json, system
from domain.errors import ValidationException

# The engine, the views and the key load inside the commands that use them (see cli/reports.py).
if TYPE_CHECKING:
    from engine.bootstrap import System
    from engine.signing import Verifier
    from projections.audit import Verification
    from projections.checkpoints import StoreVerification

audit_app = typer.Typer(
    help="Who did what when; export a signed, hash-chained trail and verify it or the store.",
    invoke_without_command=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@audit_app.callback()
@handled
def audit_command(
    ctx: typer.Context,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    since: Annotated[str | None, typer.Option(help="From this instant (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this instant, inclusive.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only what this person did.")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Include stage-gate bookkeeping.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the signed trail here.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the signed trail (JSON Lines).")
    ] = False,
) -> None:
    """Every event as who/what/when; --json or --output export a signed, hash-chained trail."""
    if ctx.invoked_subcommand is not None:
        return
    from cli.reports import instant, views
    from projections.audit import audit_records

    scope = {"pipeline": pipeline, "since": since, "until": until, "actor": actor}
    with system() as sys_:
        projections = views(sys_)
        with projections.engine.connect() as conn:
            records = list(
                audit_records(
                    conn,
                    pipeline=pipeline,
                    since=instant(since, "--since"),
                    until=instant(until, "--until"),
                    actor=actor,
                    include_gates=everything,
                )
            )
        lines = (
            export_trail(sys_, records, scope | {"all": everything}) if output or as_json else []
        )
    if output is not None:
        _write(output, lines)
        out.print(f"wrote {len(records)} chained records and a signed head to {output}")
    elif as_json:
        sys.stdout.write("".join(line + "\n" for line in lines))
    else:
        _table(records)


def export_trail(sys_: System, records: list[dict[str, Any]], scope: dict[str, Any]) -> list[str]:
    """The signed export; its head says whether the store matched its checkpoints."""
    from cli.reports import views
    from engine.signing import load_or_create_signer
    from projections.audit import signed_export
    from projections.checkpoints import verify_store

    signer = load_or_create_signer(sys_.settings.home)
    checked = verify_store(sys_.app, views(sys_, catch_up=False).engine, signer.verifier)
    if not checked.ok:
        err.print(
            "[bold yellow]warning[/] the store does not match its signed checkpoints: "
            f"{escape(checked.describe())}; the export's signed head records this"
        )
    store = {
        "verified": checked.ok,
        "problem": checked.describe() or None,
        "checkpoint": checked.latest.to_dict() if checked.latest else None,
        "uncovered": checked.uncovered,
    }
    return signed_export(
        records,
        signer,
        scope=scope,
        exported_at=sys_.app.clock.now().isoformat(),
        store=store,
    )


def _write(output: Path, lines: list[str]) -> None:
    """Write the export, never through a symbolic link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        descriptor = os.open(output, flags, 0o644)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValidationException(f"--output: {output} is a symbolic link; refused") from None
        raise
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def _table(records: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    for column in ("when", "who", "pipeline", "what", "execution"):
        table.add_column(column)
    for record in records:
        table.add_row(
            record["at"][:19].replace("T", " "),
            record["actor"],
            record["pipeline"] or "-",
            record["summary"],
            (record["executionId"] or "")[:8],
        )
    out.print(table)


# ----- verify -------------------------------------------------------------------------------


def _public_key(public_key: Path | None) -> Verifier | None:
    """The key given, else this workspace's (if there is one): never made here."""
    from engine.settings import load_settings
    from engine.signing import Verifier, load_signer

    if public_key is not None:
        try:
            with public_key.open("rb") as handle:
                text = handle.read(65536)
        except OSError as error:
            raise ValidationException(
                f"--public-key: cannot read {public_key}: {error.strerror}"
            ) from None
        return Verifier.from_pem(text)
    home = load_settings(os.environ).home
    signer = load_signer(home) if home.is_dir() else None
    return signer.verifier if signer is not None else None


def _verify_store(head: dict[str, Any] | None) -> StoreVerification:
    from engine.signing import load_signer
    from projections.checkpoints import verify_store, witnessed

    with system() as sys_:
        # Not caught up first: that would checkpoint, and so sign, whatever the store holds now.
        engine = sys_.views(catch_up=False).engine
        signer = load_signer(sys_.settings.home)
        checked = verify_store(sys_.app, engine, signer.verifier if signer else None)
        if checked.ok and head is not None:
            checked = witnessed(engine, checked, (head.get("store") or {}).get("checkpoint"))
    return checked


def _say_file(result: Verification) -> None:
    from projections.audit import UNSIGNED

    if result.warning:
        err.print(f"[bold yellow]warning[/] {result.warning}")
    if result.ok:
        signed = f", signed by key {str(result.key_id)[:16]}" if result.signed else ""
        out.print(
            f"[green]ok[/]: {result.records} records, chain intact{signed} "
            f"(last {result.last_hash})"
        )
    elif result.broken_line is not None:
        out.print(f"[red]broken[/] at line {result.broken_line}: {escape(str(result.problem))}")
    else:
        out.print(f"[red]broken[/]: {escape(str(result.problem))}")
        if result.problem == UNSIGNED:
            out.print("(made before signed heads? --allow-unsigned checks its chain only)")


def _say_store(result: StoreVerification) -> None:
    if result.ok:
        newer = (
            f"; {result.uncovered} newer event(s) not yet checkpointed" if result.uncovered else ""
        )
        out.print(
            f"[green]ok[/]: {result.events} stored events match {result.checkpoints} signed "
            f"checkpoint(s) (through #{result.through}){newer}"
        )
    else:
        out.print(f"[red]tampered[/]: {escape(result.describe())}")


@audit_app.command("verify")
@handled
def audit_verify_command(
    file: Annotated[
        Path | None, typer.Argument(help="An exported trail (conveyor audit -o FILE).")
    ] = None,
    store: Annotated[
        bool,
        typer.Option("--store", help="Re-hash the stored events against the signed checkpoints."),
    ] = False,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="PEM key to check the head with (default: this "
            "workspace's; see `conveyor audit public-key`).",
        ),
    ] = None,
    allow_unsigned: Annotated[
        bool,
        typer.Option(
            "--allow-unsigned",
            help="Accept an export without a signed head (older releases): its chain only.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Check an export (its chain and signed head), the store (--store), or both."""
    from projections.audit import verify_file

    if file is None and not store:
        raise ValidationException("audit verify: give an exported FILE, --store, or both")
    result = (
        verify_file(file, _public_key(public_key), allow_unsigned=allow_unsigned)
        if file is not None
        else None
    )
    checked = _verify_store(result.head if result and result.ok else None) if store else None
    ok = (result is None or result.ok) and (checked is None or checked.ok)
    if as_json:
        if result is not None and checked is None:
            print_json(result.to_dict())
        elif result is None and checked is not None:
            print_json(checked.to_dict())
        else:
            print_json({"ok": ok, "file": _dict(result), "store": _dict(checked)})
    else:
        if result is not None:
            _say_file(result)
        if checked is not None:
            _say_store(checked)
    if not ok:
        raise typer.Exit(1)


def _dict(result: Any) -> dict[str, Any] | None:
    return None if result is None else dict(result.to_dict())


@audit_app.command("checkpoint")
@handled
def audit_checkpoint_command(as_json: JsonFlag = False) -> None:
    """Sign a checkpoint over the events none covers yet (every catch-up of the views does too)."""
    with system() as sys_:
        covered = sys_.checkpointer(sys_.views(catch_up=False).engine).advance()
    if as_json:
        print_json({"covered": covered})
    else:
        out.print(f"checkpointed {covered} new event(s)")


@audit_app.command("public-key")
@handled
def audit_public_key_command() -> None:
    """Print this workspace's public key (PEM), to verify its exports elsewhere."""
    from engine.signing import load_or_create_signer

    with system() as sys_:
        pem = load_or_create_signer(sys_.settings.home).verifier.pem()
    sys.stdout.write(pem)
