"""The Shell provider (and Compute Commands): commands in one bash session over the inputs."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from engine.providers.base import (
    JOB_FAILED,
    TIMED_OUT,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    config_error,
    guarded,
)
from engine.providers.files import collect, copy_into
from engine.providers.process import ActionLog, Deadline, base_environment, run_bash

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# CodePipeline's limit on the output variables of one action.
MAX_VARIABLE_BYTES = 122_880


def env_name(artifact: str) -> str:
    """An artifact name as it appears inside an environment variable name."""
    return re.sub(r"[^A-Za-z0-9_]", "_", artifact)


def check_variable_size(variables: dict[str, str]) -> None:
    size = sum(len(k.encode()) + len(v.encode()) for k, v in variables.items())
    if size > MAX_VARIABLE_BYTES:
        raise ActionFailure(
            JOB_FAILED, f"output variables total {size} bytes, over the {MAX_VARIABLE_BYTES} limit"
        )


def read_nul_pairs(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    fields = path.read_bytes().decode("utf-8", "replace").split("\0")
    return {fields[i]: fields[i + 1] for i in range(0, len(fields) - 1, 2)}


def read_key_values(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and # comments are skipped."""
    if not path.exists():
        return {}
    values: dict[str, str] = {}
    for line in path.read_text("utf-8", "replace").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value
    return values


def dump_variables_script(names: tuple[str, ...], target: Path) -> str:
    """Bash that writes each set variable as NAME\\0VALUE\\0 to target."""
    quoted = " ".join(shlex.quote(name) for name in names)
    return (
        f"for __cv_n in {quoted}; do\n"
        f'  if [ -n "${{!__cv_n+x}}" ]; then\n'
        f'    printf \'%s\\0%s\\0\' "$__cv_n" "${{!__cv_n}}" >> {shlex.quote(str(target))}\n'
        "  fi\n"
        "done\n"
    )


class ShellProvider:
    """Runs `Commands` lines, then the declaration's `commands`, stopping at the first failure."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, request.category or "Shell")
        return guarded(request, lambda r: self._run(r, log), log.line)

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        deadline = Deadline(request.timeout_seconds)
        commands = _commands(request)
        session = _Session.prepare(request)
        script = _script(commands, log.tag, session, request.output_variable_names)
        log.line(f"running {len(commands)} command(s) in {session.cwd}")
        result = run_bash(script, cwd=session.cwd, env=session.env, log=log, deadline=deadline)
        current = _current(session.ledger, commands)
        if result.timed_out:
            where = f" while running `{current}`" if current else ""
            message = f"timed out after {deadline.seconds:g} s{where}"
            log.line(f"TIMED OUT: {message}")
            return ActionOutcome(succeeded=False, error_code=TIMED_OUT, error_message=message)
        if result.returncode != 0:
            log.line(f"exit code {result.returncode}")
            what = f"command `{current}`" if current else "the commands"
            raise ActionFailure(JOB_FAILED, f"{what} exited {result.returncode}")
        log.line("exit code 0")
        variables = _variables(request, session)
        return ActionOutcome(
            succeeded=True,
            summary=f"ran {len(commands)} command(s)",
            output_artifacts=_outputs(request, session.cwd),
            output_variables=variables,
        )


def _commands(request: ActionRequest) -> list[str]:
    """`Commands` lines then the declaration's `commands`, blank ones dropped; checked."""
    configured = request.configuration.get("Commands", "")
    commands = [c for c in configured.splitlines() if c.strip()] + [
        c for c in request.commands if c.strip()
    ]
    if not commands:
        raise config_error("Commands is empty: the action has no commands to run")
    for name in request.output_variable_names:
        if not _NAME.match(name):
            raise config_error(f"outputVariables name '{name}' is not a shell variable name")
    return commands


@dataclass(frozen=True)
class _Session:
    """Where the bash session runs, its environment, and the files it reports through."""

    cwd: Path
    env: dict[str, str]
    ledger: Path  # the index of the command running now
    variables_file: Path  # KEY=VALUE lines commands may append to
    exported_file: Path  # the declared outputVariables, as NAME\0VALUE\0

    @classmethod
    def prepare(cls, request: ActionRequest) -> _Session:
        workdir = request.workdir
        cwd = workdir / "src"
        control = workdir / "control"
        cwd.mkdir(parents=True, exist_ok=True)
        control.mkdir(parents=True, exist_ok=True)
        env = base_environment(request.environment)
        for index, (name, path) in enumerate(request.input_artifacts.items()):
            if index == 0:
                copy_into(path, cwd)
            # Each input gets its own copy: commands may write to it, the store must not change.
            copy = workdir / "inputs" / name
            copy_into(path, copy)
            env[f"CONVEYOR_INPUT_{env_name(name)}"] = str(copy)
        variables_file = control / "output-variables"
        variables_file.touch()
        env["CONVEYOR_OUTPUT_VARIABLES"] = str(variables_file)
        return cls(cwd, env, control / "current-command", variables_file, control / "exported")


def _script(commands: list[str], tag: str, session: _Session, names: tuple[str, ...]) -> str:
    ledger = shlex.quote(str(session.ledger))
    lines = []
    for index, command in enumerate(commands):
        header = shlex.quote(f"[{tag}] $ {command}")
        lines.append(f"printf '%s\\n' {index} > {ledger}")
        lines.append(f"printf '%s\\n' {header}")
        # eval keeps exports and `cd` in this session while confining a syntax error in one
        # command to that command (errexit then stops the script there).
        lines.append(f"eval -- {shlex.quote(command)}")
    # Truncate rather than `rm`: a builtin, so a command-free action forks nothing extra.
    lines.append(f": > {ledger}")
    lines.append(dump_variables_script(names, session.exported_file))
    return "\n".join(lines) + "\n"


def _variables(request: ActionRequest, session: _Session) -> dict[str, str]:
    variables = read_nul_pairs(session.exported_file)
    missing = [n for n in request.output_variable_names if n not in variables]
    if missing:
        raise ActionFailure(
            JOB_FAILED,
            "outputVariables not set by the commands: " + ", ".join(missing),
        )
    variables.update(read_key_values(session.variables_file))
    check_variable_size(variables)
    return variables


def _outputs(request: ActionRequest, cwd: Path) -> dict[str, Path]:
    outputs: dict[str, Path] = {}
    for name, patterns in request.output_artifacts.items():
        if not patterns:
            outputs[name] = cwd
            continue
        target = request.workdir / "out" / name
        if collect(cwd, patterns, target) == 0:
            raise ActionFailure(
                JOB_FAILED,
                f"output artifact '{name}': no files match {', '.join(patterns)}",
            )
        outputs[name] = target
    return outputs


def _current(ledger: Path, commands: list[str]) -> str | None:
    try:
        index = int(ledger.read_text().strip())
    except (OSError, ValueError):
        return None
    return commands[index] if 0 <= index < len(commands) else None
