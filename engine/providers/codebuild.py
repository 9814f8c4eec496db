"""The CodeBuild provider: runs a buildspec's phases locally in one bash session."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from domain.vocabulary import ActionCategory
from engine.providers.base import (
    JOB_FAILED,
    TIMED_OUT,
    ActionFailure,
    ActionOutcome,
    ActionRequest,
    config_error,
    guarded,
)
from engine.providers.buildspec import (
    ArtifactSpec,
    Buildspec,
    BuildspecError,
    Phase,
    parse_buildspec,
)
from engine.providers.files import collect, copy_into, inside
from engine.providers.process import ActionLog, Deadline, base_environment, run_bash
from engine.providers.shell import (
    check_variable_size,
    dump_variables_script,
    env_name,
    read_nul_pairs,
)
from engine.secrets import SECRET_TYPES, SecretsError, SecretStore

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Install and pre_build failures end the build; a build failure still runs post_build.
_STOPPING_PHASES = ("install", "pre_build")


@dataclass
class _Step:
    phase: str
    kind: str  # "commands" or "finally"
    index: int
    returncode: int | None = None


@dataclass
class _Ledger:
    """What the build script recorded: each command's result and each phase's status."""

    steps: list[_Step]
    phases: list[tuple[str, str]]
    finished: bool

    @classmethod
    def read(cls, path: Path) -> _Ledger:
        steps: list[_Step] = []
        phases: list[tuple[str, str]] = []
        finished = False
        lines = path.read_text().splitlines() if path.exists() else []
        for line in lines:
            fields = line.split("\t")
            if fields[0] == "BEGIN":
                steps.append(_Step(fields[1], fields[2], int(fields[3])))
            elif fields[0] == "END" and steps:
                steps[-1].returncode = int(fields[4])
            elif fields[0] == "DONE":
                phases.append((fields[1], fields[2]))
            elif fields[0] == "FINISHED":
                finished = True
        return cls(steps, phases, finished)


def _load_buildspec(request: ActionRequest, source_name: str, source: Path) -> Buildspec:
    configured = request.configuration.get("BuildSpec", "").strip()
    if configured and ("\n" in configured or "version:" in configured):
        text, origin = configured, "the inline BuildSpec"
    else:
        relative = configured or "buildspec.yml"
        path = inside(source, relative, "BuildSpec")
        if not path.is_file():
            key = "BuildSpec" if configured else "BuildSpec (default buildspec.yml)"
            raise config_error(
                f"{key}: no file '{relative}' in the primary source artifact '{source_name}'"
            )
        text, origin = path.read_text("utf-8", "replace"), relative
    try:
        return parse_buildspec(text)
    except BuildspecError as error:
        raise config_error(f"BuildSpec {origin}: {error}") from error


def _configured_environment(
    request: ActionRequest, secrets: Callable[[str, str], str]
) -> dict[str, str]:
    """The action's EnvironmentVariables; a secret's value comes from `secrets(where, name)`."""
    raw = request.configuration.get("EnvironmentVariables", "").strip()
    if not raw:
        return {}
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as error:
        raise config_error(f"EnvironmentVariables is not valid JSON: {error}") from error
    if not isinstance(entries, list):
        raise config_error("EnvironmentVariables must be a JSON list of {name, value, type}")
    values: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry or "value" not in entry:
            raise config_error(f"EnvironmentVariables entry {entry!r} needs a name and a value")
        kind = str(entry.get("type", "PLAINTEXT")).upper()
        name, value = str(entry["name"]), str(entry["value"])
        if kind in SECRET_TYPES:
            value = secrets(f"EnvironmentVariables '{name}' ({kind})", value)
        elif kind != "PLAINTEXT":
            raise config_error(
                f"EnvironmentVariables '{name}' has type {kind}; use PLAINTEXT, "
                "PARAMETER_STORE or SECRETS_MANAGER"
            )
        values[name] = value
    return values


class _Secrets:
    """Resolves secret names from the workspace store, remembering each value to mask it."""

    def __init__(self, request: ActionRequest, log: ActionLog) -> None:
        self._store = SecretStore(request.home) if request.home is not None else None
        self._log = log

    def __call__(self, where: str, name: str) -> str:
        value = None
        if self._store is not None:
            try:
                value = self._store.get(name)
            except SecretsError as error:
                raise config_error(f"{where}: {error.message}") from None
        if value is None:
            raise config_error(
                f"{where}: secret '{name}' is not in the workspace secrets store; "
                f"add it with `conveyor secrets set {name}`"
            )
        self._log.masks = (*self._log.masks, value)
        return value


def _primary_source(request: ActionRequest) -> str:
    """The input artifact the build runs in: PrimarySource, else the first input."""
    inputs = request.input_artifacts
    if not inputs:
        raise config_error("CodeBuild needs at least one input artifact (the primary source)")
    primary = request.configuration.get("PrimarySource", "").strip()
    if primary and primary not in inputs:
        raise config_error(
            f"PrimarySource '{primary}' is not an input artifact (inputs: {', '.join(inputs)})"
        )
    return primary or next(iter(inputs))


@dataclass(frozen=True)
class _Build:
    """One local build: its id, source directory, environment and the files its script writes."""

    id: str
    src: Path
    env: dict[str, str]
    ledger: Path
    exported: Path

    @classmethod
    def prepare(
        cls, request: ActionRequest, spec: Buildspec, primary: str, secrets: _Secrets
    ) -> _Build:
        """Copies the inputs in and sets CodeBuild's variables, the buildspec's and the action's."""
        workdir = request.workdir
        src = workdir / "src"
        control = workdir / "control"
        control.mkdir(parents=True, exist_ok=True)
        copy_into(request.input_artifacts[primary], src)
        project = request.configuration.get("ProjectName", "").strip() or request.action
        build_id = f"{project}:{request.action_execution_id}"
        env = base_environment(request.environment)
        env.update(
            {
                "CODEBUILD_SRC_DIR": str(src),
                "CODEBUILD_BUILD_ID": build_id,
                "CODEBUILD_INITIATOR": f"codepipeline/{request.pipeline_name}",
                "CODEBUILD_BUILD_SUCCEEDING": "1",
            }
        )
        for name, path in request.input_artifacts.items():
            if name != primary:
                copy = workdir / "inputs" / name
                copy_into(path, copy)
                env[f"CODEBUILD_SRC_DIR_{env_name(name)}"] = str(copy)
        env.update(spec.variables)
        for variable, name in spec.secrets.items():
            env[variable] = secrets(f"BuildSpec env secret {variable}", name)
        env.update(_configured_environment(request, secrets))
        return cls(build_id, src, env, control / "ledger", control / "exported")


def build_script(spec: Buildspec, tag: str, ledger: Path, exported: Path) -> str:
    """The bash program that runs every phase in one session, following CodeBuild's rules."""
    out = [
        f"__cv_ledger={shlex.quote(str(ledger))}",
        "__cv_stop=0",
        "export CODEBUILD_BUILD_SUCCEEDING=1",
        "__cv_mark() { (IFS=$'\\t'; printf '%s\\n' \"$*\") >> \"$__cv_ledger\"; }",
    ]
    for phase in spec.phases:
        out.extend(_phase_lines(phase, tag))
    if spec.exported_variables:
        out.append(dump_variables_script(spec.exported_variables, exported))
    out.append("__cv_mark FINISHED")
    return "\n".join(out) + "\n"


def _phase_lines(phase: Phase, tag: str) -> list[str]:
    q = shlex.quote
    # post_build runs after a failed build; install/pre_build failures (ABORT) stop here.
    out = ['if [ "$__cv_stop" = 0 ]; then']
    out.append(f"  printf '%s\\n' {q(f'[{tag}] entering phase {phase.name}')}")
    out.append("  __cv_prc=0")
    for index, command in enumerate(phase.commands):
        out.extend(_step_lines(tag, phase.name, "commands", index, command, "__cv_prc"))
    out.append("  __cv_frc=0")
    for index, command in enumerate(phase.finally_commands):
        out.extend(_step_lines(tag, phase.name, "finally", index, command, "__cv_frc"))
    stop = (
        "    __cv_stop=1"
        if phase.name in _STOPPING_PHASES and phase.on_failure == "ABORT"
        else "    :"
    )
    out.extend(
        [
            '  if [ "$__cv_prc" != 0 ] || [ "$__cv_frc" != 0 ]; then',
            f"    __cv_mark DONE {phase.name} FAILED",
            "    export CODEBUILD_BUILD_SUCCEEDING=0",
            f"    printf '%s\\n' {q(f'[{tag}] phase {phase.name} FAILED')}",
            stop,
            "  else",
            f"    __cv_mark DONE {phase.name} SUCCEEDED",
            f"    printf '%s\\n' {q(f'[{tag}] phase {phase.name} SUCCEEDED')}",
            "  fi",
            "fi",
        ]
    )
    return out


def _step_lines(
    tag: str, phase: str, kind: str, index: int, command: str, status: str
) -> list[str]:
    """One command; it runs only while its status variable says nothing failed yet."""
    q = shlex.quote
    label = f"phase {phase}" + (" finally" if kind == "finally" else "")
    return [
        f'  if [ "${status}" = 0 ]; then',
        f"    __cv_mark BEGIN {phase} {kind} {index}",
        f"    printf '%s\\n' {q(f'[{tag}] {label}: {command}')}",
        # eval keeps exports and `cd` in this session; a syntax error stays local.
        f"    eval -- {q(command)}",
        "    __cv_rc=$?",
        f'    __cv_mark END {phase} {kind} {index} "$__cv_rc"',
        '    if [ "$__cv_rc" != 0 ]; then',
        f"      printf '[{tag}] exit code %s\\n' \"$__cv_rc\"",
        f'      {status}="$__cv_rc"',
        "    fi",
        "  fi",
    ]


class CodeBuildProvider:
    """Runs buildspec phases with CodeBuild's phase rules, artifacts and exported variables."""

    def run(self, request: ActionRequest) -> ActionOutcome:
        log = ActionLog(request.log_path, request.category or ActionCategory.BUILD)
        outcome = guarded(request, lambda r: self._run(r, log), log.line)
        return _masked(outcome, log) if log.masks else outcome

    def _run(self, request: ActionRequest, log: ActionLog) -> ActionOutcome:
        deadline = Deadline(request.timeout_seconds)
        primary = _primary_source(request)
        spec = _load_buildspec(request, primary, request.input_artifacts[primary])
        for name in spec.exported_variables:
            if not _NAME.match(name):
                raise config_error(f"BuildSpec env.exported-variables: '{name}' is not a name")
        for ignored in spec.ignored:
            log.line(f"ignoring {ignored} (no local meaning)")
        build = _Build.prepare(request, spec, primary, _Secrets(request, log))
        script = build_script(spec, log.tag, build.ledger, build.exported)
        log.line(f"build {build.id}: buildspec {spec.version}, source {primary} in {build.src}")
        result = run_bash(
            script, cwd=build.src, env=build.env, log=log, deadline=deadline, errexit=False
        )
        record = _Ledger.read(build.ledger)
        if result.timed_out:
            where = _where(record.steps[-1], spec) if record.steps else ""
            message = f"build timed out after {deadline.seconds:g} s" + (
                f" in {where}" if where else ""
            )
            log.line(f"TIMED OUT: {message}")
            return ActionOutcome(
                succeeded=False,
                error_code=TIMED_OUT,
                error_message=message,
                external_execution_id=build.id,
            )
        failure = _first_failure(record, spec, result.returncode)
        if failure is not None:
            log.line(f"build FAILED: {failure}")
            return ActionOutcome(
                succeeded=False,
                summary=f"build failed: {failure}",
                error_code=JOB_FAILED,
                error_message=failure,
                external_execution_id=build.id,
            )
        variables = read_nul_pairs(build.exported)
        check_variable_size(variables)
        outputs = self._artifacts(request, spec, build.src, request.workdir / "out", log)
        summary = f"build succeeded in {len(record.phases)} phase(s)"
        log.line(summary)
        return ActionOutcome(
            succeeded=True,
            summary=summary,
            output_artifacts=outputs,
            output_variables=variables,
            external_execution_id=build.id,
        )

    def _artifacts(
        self, request: ActionRequest, spec: Buildspec, src: Path, out: Path, log: ActionLog
    ) -> dict[str, Path]:
        outputs: dict[str, Path] = {}
        for position, name in enumerate(request.output_artifacts):
            chosen: ArtifactSpec | None = spec.secondary_artifacts.get(name)
            where = f"artifacts.secondary-artifacts.{name}"
            if chosen is None and position == 0:
                chosen, where = spec.artifacts, "artifacts"
            if chosen is None:
                raise config_error(
                    f"the buildspec has no artifacts for output artifact '{name}': add "
                    + ("`artifacts.files` or " if position == 0 else "")
                    + f"`artifacts.secondary-artifacts.{name}`"
                )
            base = inside(src, chosen.base_directory, f"{where}.base-directory")
            if not base.is_dir():
                raise ActionFailure(
                    JOB_FAILED, f"{where}.base-directory '{chosen.base_directory}' does not exist"
                )
            target = out / name
            count = collect(
                base,
                chosen.files,
                target,
                discard_paths=chosen.discard_paths,
                exclude=chosen.exclude_paths,
            )
            if count == 0:
                raise ActionFailure(
                    JOB_FAILED,
                    f"{where}: no files match {', '.join(chosen.files)}"
                    + (f" under {chosen.base_directory}" if chosen.base_directory else ""),
                )
            log.line(f"artifact {name}: {count} file(s)")
            outputs[name] = target
        return outputs


def _masked(outcome: ActionOutcome, log: ActionLog) -> ActionOutcome:
    """The outcome with secret values masked: what it says is recorded in the event log."""

    def mask(text: str | None) -> str | None:
        return None if text is None else log.mask(text)

    return replace(
        outcome,
        summary=mask(outcome.summary),
        error_message=mask(outcome.error_message),
        output_variables={k: log.mask(v) for k, v in outcome.output_variables.items()},
    )


def _command(step: _Step, spec: Buildspec) -> str:
    phase = next(p for p in spec.phases if p.name == step.phase)
    commands = phase.commands if step.kind == "commands" else phase.finally_commands
    return commands[step.index]


def _where(step: _Step, spec: Buildspec) -> str:
    suffix = " (finally)" if step.kind == "finally" else ""
    return f"phase {step.phase.upper()}{suffix}: command `{_command(step, spec)}`"


def _first_failure(record: _Ledger, spec: Buildspec, returncode: int) -> str | None:
    for step in record.steps:
        if step.returncode is None:
            # The command ended the shell itself (`exit`, or `set -e` then a failure).
            return f"{_where(step, spec)} ended the build shell with exit code {returncode}"
        if step.returncode != 0:
            return f"{_where(step, spec)} exited {step.returncode}"
    if not record.finished:
        return f"the build shell ended unexpectedly with exit code {returncode}"
    return None
