"""Buildspec parsing: the model it builds and errors that name the offending key."""

from __future__ import annotations

import textwrap

import pytest

from engine.providers.buildspec import BuildspecError, parse_buildspec


def parse(text: str):  # type: ignore[no-untyped-def]
    return parse_buildspec(textwrap.dedent(text))


def test_phases_come_out_in_codebuild_order_whatever_the_yaml_order() -> None:
    spec = parse(
        """
        version: 0.2
        phases:
          post_build: {commands: [echo post]}
          build:
            commands: [make]
            finally: [echo done]
            on-failure: CONTINUE
          install: {commands: [npm ci]}
        """
    )
    assert [p.name for p in spec.phases] == ["install", "build", "post_build"]
    build = spec.phases[1]
    assert build.commands == ("make",)
    assert build.finally_commands == ("echo done",)
    assert build.on_failure == "CONTINUE"


def test_yaml_yes_and_numbers_become_the_strings_codebuild_would_use() -> None:
    spec = parse(
        """
        version: 0.2
        env:
          variables: {RETRIES: 3, DEBUG: yes}
        phases:
          build: {commands: [make]}
        artifacts:
          files: ['**/*']
          discard-paths: yes
          base-directory: dist
        """
    )
    assert spec.variables == {"RETRIES": "3", "DEBUG": "true"}
    assert spec.artifacts is not None
    assert spec.artifacts.discard_paths is True
    assert spec.artifacts.base_directory == "dist"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("version: 0.3\nphases: {build: {commands: [make]}}", "version"),
        ("version: 0.2\nphases: {compile: {commands: [make]}}", "compile"),
        ("version: 0.2\nphases:\n  build:\n    commands:\n      - echo a: b\n", "commands[0]"),
        ("version: 0.2\nphases: {build: {commands: make}}", "phases.build.commands"),
        ("version: 0.2\nenv: {parameter-store: [X]}\nphases: {build: {}}", "env.parameter-store"),
        ("version: 0.2\nenv: {shell: sh}\nphases: {build: {}}", "env.shell"),
        ("version: 0.2\nphases: {build: {on-failure: RETRY}}", "on-failure"),
        ("version: 0.2\nphases: {build: {}}\nartifacts: {files: []}", "artifacts.files"),
        ("version: 0.2\nphases: [", "YAML"),
        (
            "version: 0.2\nphases: {build: {}}\nartifacts: {files: [a], exclude-paths: true}",
            "artifacts.exclude-paths",
        ),
    ],
)
def test_an_invalid_buildspec_is_rejected_naming_the_key(text: str, named: str) -> None:
    with pytest.raises(BuildspecError, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_buildspec(text)


def test_parameter_store_and_secrets_manager_name_secrets_of_the_workspace_store() -> None:
    spec = parse_buildspec(
        "version: 0.2\nenv:\n  parameter-store: {DB: /app/db}\n"
        "  secrets-manager: {TOKEN: deploy-token}\nphases: {build: {commands: [make]}}"
    )
    assert spec.secrets == {"DB": "/app/db", "TOKEN": "deploy-token"}
