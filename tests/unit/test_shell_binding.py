"""The shell rule: a #{ns.name} in a command reaches bash as a quoted variable, never as code."""

from __future__ import annotations

import json
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.variables import ShellBindings, UnresolvedVariable, bind_shell, resolve_json_strings

# Any text bash can hold in an environment variable: no NUL, no lone surrogates.
VALUES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    min_size=1,
)
# Each form and what follows the value in its output: `$(...)` strips trailing newlines, so
# that form prints a sentinel after the value to keep them.
FORMS = [
    ("printf '%s' #{v.x}", ""),
    ("printf '%s' \"#{v.x}\"", ""),
    ("printf '%s' '#{v.x}'", ""),
    ("printf '%s' $'#{v.x}'", ""),
    ("printf '%s' \"$(printf '%s|' #{v.x})\"", "|"),
]


def _bash(command: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, check=True, timeout=30
    )
    return done.stdout.decode("utf-8", "surrogateescape")


@settings(max_examples=25, deadline=None)
@given(value=VALUES)
def test_a_variable_value_never_becomes_shell_syntax_in_any_quoting(value: str) -> None:
    for form, sentinel in FORMS:
        bindings = ShellBindings({"v": {"x": value}})
        command = bind_shell(form, bindings)
        assert _bash(command, bindings.environment) == value + sentinel, form


def test_values_with_shell_syntax_print_verbatim_and_run_nothing() -> None:
    value = "$(echo ran) `echo ran` ; echo ran ' \" \\ *"
    bindings = ShellBindings({"v": {"x": value}})
    command = bind_shell("printf '%s|' #{v.x} \"#{v.x}\" 'a #{v.x} b'", bindings)
    assert _bash(command, bindings.environment) == f"{value}|{value}|a {value} b|"


def test_each_reference_gets_one_variable_and_similar_names_do_not_collide() -> None:
    bindings = ShellBindings({"n": {"a-b": "dash", "a_b": "underscore"}})
    command = bind_shell("echo #{n.a-b} #{n.a_b} #{n.a-b}", bindings)
    assert command == (
        'echo "${CONVEYOR_VAR_n_a_b}" "${CONVEYOR_VAR_n_a_b_2}" "${CONVEYOR_VAR_n_a_b}"'
    )
    assert bindings.environment == {
        "CONVEYOR_VAR_n_a_b": "dash",
        "CONVEYOR_VAR_n_a_b_2": "underscore",
    }


def test_an_escaped_reference_and_one_in_a_comment_stay_text() -> None:
    bindings = ShellBindings({})
    assert bind_shell("echo \\#{v.x} # see #{v.x}", bindings) == "echo \\#{v.x} # see #{v.x}"
    assert bindings.environment == {}


def test_a_reference_with_no_value_is_refused_by_name() -> None:
    with pytest.raises(UnresolvedVariable, match=r"#\{v\.missing\}"):
        bind_shell("echo #{v.missing}", ShellBindings({"v": {}}))


def test_json_values_are_resolved_after_parsing_so_a_value_cannot_add_entries() -> None:
    value = 'v1","type":"PLAINTEXT"},{"name":"BASH_ENV","value":"x'
    text = '[{"name": "TAG", "value": "#{v.x}", "type": "PLAINTEXT"}]'
    entries = json.loads(resolve_json_strings(text, {"v": {"x": value}}))
    assert entries == [{"name": "TAG", "value": value, "type": "PLAINTEXT"}]
