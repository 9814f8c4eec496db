"""Bad input and a faulty environment get one clear line and exit 2 (1 for the environment),
never a traceback, and leave the store as it was."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli import CONVEYOR, Workspace

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.json"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def refused(
    done: subprocess.CompletedProcess[str], code: int, *said: str
) -> subprocess.CompletedProcess[str]:
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode == code, output
    for text in said:
        assert text in done.stderr, done.stderr
    return done


def events_of(ws: Workspace) -> bytes:
    """The store's bytes, compared before and after a refused command."""
    return (ws.root / ".conveyor" / "conveyor.db").read_bytes()


def test_validate_of_json_nested_a_thousand_levels_deep_is_refused_with_exit_2(
    ws: Workspace,
) -> None:
    ws.write("deep.json", "[" * 1200 + "]" * 1200)
    ws.write("deep-object.json", '{"a":' * 1200 + "1" + "}" * 1200)
    for name in ("deep.json", "deep-object.json"):
        refused(
            ws.run("pipeline", "validate", name, expect=None),
            2,
            "nests more than 64 levels",
            "json.depth",
        )


def test_validate_of_an_integer_over_4300_digits_is_refused_with_exit_2(ws: Workspace) -> None:
    ws.write("big.json", '{"pipeline": {"name": ' + "9" * 5000 + "}}")
    refused(
        ws.run("pipeline", "validate", "big.json", expect=None),
        2,
        "a number with more than 4300 digits",
    )


def test_a_duplicate_key_in_a_definition_is_refused_naming_the_key_and_path(
    ws: Workspace,
) -> None:
    text = EXAMPLE.read_text().replace(
        '"name": "hello-site",', '"name": "hello-site", "name": "other-site",', 1
    )
    ws.write("twice.json", text)
    before = events_of(ws)
    refused(
        ws.run("pipeline", "create", "twice.json", "--no-start", expect=None),
        2,
        "$.pipeline.name",
        "key 'name' appears more than once",
    )
    assert events_of(ws) == before
    assert ws.json("pipeline", "list")["pipelines"] == []


def test_a_shell_action_without_commands_fails_validate_not_the_run(ws: Workspace) -> None:
    definition = json.loads(EXAMPLE.read_text())
    build = definition["pipeline"]["stages"][1]["actions"][1]
    assert build["actionTypeId"]["provider"] == "Shell"
    del build["configuration"]["Commands"]
    ws.write("no-commands.json", definition)
    refused(
        ws.run("pipeline", "validate", "no-commands.json", expect=None),
        2,
        "pipeline.stages[1].actions[1].configuration.Commands",
        "needs the commands to run",
    )


def test_billing_rules_nested_deeply_or_of_the_wrong_shape_are_refused_with_exit_2(
    ws: Workspace,
) -> None:
    ws.write("deep.jsonl", '{"a":' * 1200 + "1" + "}" * 1200 + "\n")
    ws.write("list.json", "[1, 2]")
    ws.write("price.json", '{"v2PricePerMinute": "cheap"}')
    cases = {
        "deep.jsonl": "nests more than 64 levels",
        "list.json": "must hold a JSON object of rules",
        "price.json": "billing.v2PricePerMinute: must be a price from 0 to 1000000",
        "missing.json": "cannot read missing.json: no such file",
        ".": "cannot read .: is a directory",
    }
    for name, said in cases.items():
        refused(ws.run("billing", "report", "--rules", name, expect=None), 2, said)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:notaport/x",
        "postgresql://postgres@127.0.0.1:99999/x",
        "postgresql://postgres@[::1/x",
    ],
)
def test_a_malformed_database_url_is_refused_with_exit_2(ws: Workspace, url: str) -> None:
    before = events_of(ws)
    for command in (("state", "x"), ("pipeline", "list"), ("tick",)):
        refused(
            ws.run(*command, expect=None, CONVEYOR_DATABASE_URL=url), 2, "CONVEYOR_DATABASE_URL"
        )
    assert events_of(ws) == before


def test_a_garbage_conveyor_now_is_refused_by_every_command(ws: Workspace) -> None:
    ws.run("pipeline", "create", str(EXAMPLE), "--no-start")
    before = events_of(ws)
    for command in (
        ("tick",),
        ("pipeline", "list"),
        ("state", "hello-site"),
        ("audit",),
        ("start", "hello-site"),
    ):
        refused(
            ws.run(*command, expect=None, CONVEYOR_NOW="garbage"),
            2,
            "CONVEYOR_NOW: 'garbage' is not an ISO 8601 instant",
        )
    assert events_of(ws) == before


def test_a_full_disk_under_the_store_is_an_environment_fault_with_exit_1(
    ws: Workspace,
) -> None:
    # A real write failure from the kernel: the file-size limit (RLIMIT_FSIZE) makes every
    # write past it fail with EFBIG, as a full disk does; SIGXFSZ is ignored so the write
    # returns the error instead of killing the process.
    ws.run("pipeline", "create", str(EXAMPLE), "--no-start")
    ws.write("second.json", EXAMPLE.read_text().replace("hello-site", "second-site"))

    def tiny_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    for command in (("pipeline", "create", "second.json", "--no-start"), ("start", "hello-site")):
        done = subprocess.run(
            [CONVEYOR, *command],
            cwd=ws.root,
            env=ws.env(),
            text=True,
            capture_output=True,
            timeout=120,
            check=False,
            preexec_fn=tiny_disk,
        )
        refused(done, 1, "disk I/O error", "is the disk holding the store full")
    assert [p["name"] for p in ws.json("pipeline", "list")["pipelines"]] == ["hello-site"]
    assert ws.json("executions", "list", "hello-site")["pipelineExecutionSummaries"] == []


def test_a_store_with_a_damaged_header_is_reported_with_its_path_and_exit_1(
    ws: Workspace,
) -> None:
    store = ws.root / ".conveyor" / "conveyor.db"
    with store.open("r+b") as handle:
        handle.write(b"this is not SQLite at all")
    damaged = store.read_bytes()
    for command in (("pipeline", "list"), ("state", "x"), ("audit",), ("init",)):
        refused(ws.run(*command, expect=None), 1, f"({store}) failed: file is not a database")
    assert store.read_bytes() == damaged


def test_audit_into_a_closed_pipe_exits_quietly(ws: Workspace) -> None:
    ws.run("pipeline", "create", str(EXAMPLE), "--no-start")
    # No reader at all: the first write fails with EPIPE, deterministically.
    process = subprocess.Popen(
        [CONVEYOR, "audit", "--json"],
        cwd=ws.root,
        env=ws.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert stderr == ""
    assert process.returncode == 141  # as the shell reports a tool ended by SIGPIPE
    # And as the issue wrote it: `head` reads one line, then goes away.
    done = subprocess.run(
        ["bash", "-c", '"$CONVEYOR" audit --json | head -1'],
        cwd=ws.root,
        env={**ws.env(), "CONVEYOR": CONVEYOR},
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert "auditHead" in json.loads(done.stdout)  # an export's first line: its signed head
    assert done.stderr == ""


def test_missing_files_and_folders_are_named_with_the_problem_not_errno(
    ws: Workspace,
) -> None:
    (ws.root / "folder").mkdir()
    cases = [
        (("pipeline", "validate", "nope.json"), 2, "cannot read nope.json: no such file"),
        (("pipeline", "validate", "folder"), 2, "cannot read folder: is a directory"),
        (("simulate", "nope.json"), 2, "cannot read nope.json: no such file"),
        (("simulate", "folder"), 2, "cannot read folder: is a directory"),
        (("explore", "nope.json"), 2, "cannot read nope.json: no such file"),
        (("audit", "-o", "no/such/dir/out.jsonl"), 1, "No such file or directory"),
    ]
    for command, code, said in cases:
        done = refused(ws.run(*command, expect=None), code, said)
        assert "[Errno" not in done.stderr


def test_a_variable_value_over_1000_characters_is_refused_naming_the_variable(
    ws: Workspace,
) -> None:
    ws.run("pipeline", "create", str(EXAMPLE), "--no-start")
    before = events_of(ws)
    refused(
        ws.run("start", "hello-site", "--var", "Greeting=" + "x" * 1001, expect=None),
        2,
        "variables.Greeting: the value has 1001 characters; at most 1000",
    )
    assert events_of(ws) == before
    ws.run("start", "hello-site", "--var", "Greeting=" + "x" * 1000)
