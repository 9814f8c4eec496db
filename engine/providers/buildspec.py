"""CodeBuild buildspec (version 0.2) parsing into a checked model; errors name the YAML key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
# Keys CodeBuild understands that have no local meaning; they are accepted and ignored.
_IGNORED_TOP = ("run-as", "proxy", "reports", "cache", "batch")
_IGNORED_ENV = ("git-credential-helper",)
# Locally both name a secret in the workspace secrets store (`conveyor secrets set`).
_SECRET_KEYS = ("parameter-store", "secrets-manager")


class BuildspecError(ValueError):
    """The buildspec is not valid; the message names the offending key."""


@dataclass(frozen=True)
class Phase:
    name: str
    commands: tuple[str, ...]
    finally_commands: tuple[str, ...] = ()
    on_failure: str = "ABORT"


@dataclass(frozen=True)
class ArtifactSpec:
    files: tuple[str, ...]
    base_directory: str = ""
    discard_paths: bool = False
    name: str | None = None
    exclude_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Buildspec:
    version: str
    variables: Mapping[str, str] = field(default_factory=dict)
    # env.parameter-store and env.secrets-manager: variable -> secret name in the workspace store.
    secrets: Mapping[str, str] = field(default_factory=dict)
    exported_variables: tuple[str, ...] = ()
    phases: tuple[Phase, ...] = ()
    artifacts: ArtifactSpec | None = None
    secondary_artifacts: Mapping[str, ArtifactSpec] = field(default_factory=dict)
    ignored: tuple[str, ...] = ()


def parse_buildspec(text: str) -> Buildspec:
    """The checked buildspec; raises BuildspecError naming the first offending key."""
    document = _document(text)
    version = document.get("version")
    if str(version) not in ("0.1", "0.2"):
        raise BuildspecError(f"version must be 0.2 (or 0.1), not {version!r}")
    ignored = [key for key in _IGNORED_TOP if key in document]
    unknown = set(document) - {"version", "env", "phases", "artifacts", *_IGNORED_TOP}
    if unknown:
        raise BuildspecError(f"unknown top-level key(s): {', '.join(sorted(map(str, unknown)))}")
    env = document.get("env") or {}
    variables, exported = _env(env, ignored)
    secrets = _secrets(env)
    phases = _phases(document.get("phases"), ignored)
    artifacts, secondary = _artifacts(document.get("artifacts"))
    return Buildspec(
        version=str(version),
        variables=variables,
        secrets=secrets,
        exported_variables=exported,
        phases=phases,
        artifacts=artifacts,
        secondary_artifacts=secondary,
        ignored=tuple(ignored),
    )


def _document(text: str) -> dict[Any, Any]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise BuildspecError(f"buildspec is not valid YAML: {error}") from error
    if not isinstance(document, dict):
        raise BuildspecError("buildspec must be a YAML mapping with `version` and `phases`")
    return document


def _env(env: Any, ignored: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The env block's variables and exported names; appends the keys it ignores."""
    if not isinstance(env, dict):
        raise BuildspecError("env must be a mapping")
    for key in env:
        if key in _SECRET_KEYS:
            continue
        if key in _IGNORED_ENV:
            ignored.append(f"env.{key}")
        elif key not in ("variables", "exported-variables", "shell"):
            raise BuildspecError(f"unknown key env.{key}")
    shell = env.get("shell")
    if isinstance(shell, dict):
        shell = shell.get("linux")
    if shell not in (None, "bash"):
        raise BuildspecError(f"env.shell {shell!r} is not supported; only bash runs locally")
    raw_variables = env.get("variables") or {}
    if not isinstance(raw_variables, dict):
        raise BuildspecError("env.variables must be a mapping of names to values")
    variables = {
        str(name): _scalar(value, f"env.variables.{name}") for name, value in raw_variables.items()
    }
    raw_exported = env.get("exported-variables") or []
    if not isinstance(raw_exported, list):
        raise BuildspecError("env.exported-variables must be a list of names")
    exported = tuple(_scalar(item, "env.exported-variables") for item in raw_exported)
    return variables, exported


def _secrets(env: dict[Any, Any]) -> dict[str, str]:
    """Variables whose values come from the workspace secrets store, by secret name."""
    secrets: dict[str, str] = {}
    for key in _SECRET_KEYS:
        block = env.get(key) or {}
        if not isinstance(block, dict):
            raise BuildspecError(f"env.{key} must be a mapping of variable names to secret names")
        for name, secret in block.items():
            secrets[str(name)] = _scalar(secret, f"env.{key}.{name}")
    return secrets


def _phases(raw_phases: Any, ignored: list[str]) -> tuple[Phase, ...]:
    """The phases present, in CodeBuild's order; appends the keys it ignores."""
    if not isinstance(raw_phases, dict) or not raw_phases:
        raise BuildspecError("phases must be a mapping with at least one of " + ", ".join(PHASES))
    unknown_phases = set(raw_phases) - set(PHASES)
    if unknown_phases:
        raise BuildspecError(
            f"unknown phase(s) {', '.join(sorted(map(str, unknown_phases)))}; "
            f"phases are {', '.join(PHASES)}"
        )
    phases = []
    for name in PHASES:
        if name in raw_phases:
            phase = _phase(name, raw_phases[name] or {})
            if name == "install" and "runtime-versions" in (raw_phases[name] or {}):
                ignored.append("phases.install.runtime-versions")
            phases.append(phase)
    return tuple(phases)


def _artifacts(raw_artifacts: Any) -> tuple[ArtifactSpec | None, dict[str, ArtifactSpec]]:
    """The primary artifact (when `files` is given) and the secondary ones by identifier."""
    if raw_artifacts is None:
        return None, {}
    if not isinstance(raw_artifacts, dict):
        raise BuildspecError("artifacts must be a mapping")
    primary = _artifact(raw_artifacts, "artifacts") if "files" in raw_artifacts else None
    raw_secondary = raw_artifacts.get("secondary-artifacts") or {}
    if not isinstance(raw_secondary, dict):
        raise BuildspecError("artifacts.secondary-artifacts must be a mapping")
    secondary: dict[str, ArtifactSpec] = {}
    for identifier, spec in raw_secondary.items():
        where = f"artifacts.secondary-artifacts.{identifier}"
        if not isinstance(spec, dict):
            raise BuildspecError(f"{where} must be a mapping")
        secondary[str(identifier)] = _artifact(spec, where)
    return primary, secondary


def _phase(name: str, raw: Any) -> Phase:
    where = f"phases.{name}"
    if not isinstance(raw, dict):
        raise BuildspecError(f"{where} must be a mapping with `commands`")
    unknown = set(raw) - {"commands", "finally", "on-failure", "runtime-versions", "run-as"}
    if unknown:
        raise BuildspecError(f"unknown key(s) in {where}: {', '.join(sorted(map(str, unknown)))}")
    on_failure = str(raw.get("on-failure") or "ABORT").upper()
    if on_failure not in ("ABORT", "CONTINUE"):
        raise BuildspecError(f"{where}.on-failure must be ABORT or CONTINUE, not {on_failure}")
    return Phase(
        name=name,
        commands=_commands(raw.get("commands"), f"{where}.commands"),
        finally_commands=_commands(raw.get("finally"), f"{where}.finally"),
        on_failure=on_failure,
    )


def _commands(raw: Any, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise BuildspecError(f"{where} must be a list of commands")
    commands = []
    for index, item in enumerate(raw):
        if isinstance(item, dict):
            # `- echo a: b` is a YAML mapping, the most common buildspec mistake.
            raise BuildspecError(
                f"{where}[{index}] is a mapping, not a command: quote commands containing ': '"
            )
        commands.append(_scalar(item, f"{where}[{index}]"))
    return tuple(commands)


def _artifact(raw: dict[Any, Any], where: str) -> ArtifactSpec:
    files = raw.get("files")
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not files:
        raise BuildspecError(f"{where}.files must be a non-empty list of globs")
    excludes = raw.get("exclude-paths") or []
    if isinstance(excludes, str):
        excludes = [excludes]
    if not isinstance(excludes, list):
        raise BuildspecError(f"{where}.exclude-paths must be a glob or a list of globs")
    name = raw.get("name")
    return ArtifactSpec(
        files=tuple(_scalar(item, f"{where}.files") for item in files),
        base_directory=_scalar(raw.get("base-directory") or "", f"{where}.base-directory"),
        discard_paths=_yes(raw.get("discard-paths", False), f"{where}.discard-paths"),
        name=None if name is None else _scalar(name, f"{where}.name"),
        exclude_paths=tuple(_scalar(item, f"{where}.exclude-paths") for item in excludes),
    )


def _yes(value: Any, where: str) -> bool:
    # YAML 1.1 already turns yes/no into booleans; strings still arrive when quoted.
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("yes", "true"):
        return True
    if str(value).lower() in ("no", "false"):
        return False
    raise BuildspecError(f"{where} must be yes or no, not {value!r}")


def _scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BuildspecError(f"{where} must be a string, not {type(value).__name__}")
