"""Stage semantics hold under random interleavings of commands, in every execution mode."""

from __future__ import annotations

from hypothesis.stateful import run_state_machine_as_test

from tests.property.machine import DEEPER, StageSemanticsMachine


class SupersededMachine(StageSemanticsMachine):
    modes = ("SUPERSEDED",)


class QueuedMachine(StageSemanticsMachine):
    modes = ("QUEUED",)


class ParallelMachine(StageSemanticsMachine):
    modes = ("PARALLEL",)


def test_superseded_mode_keeps_one_execution_per_stage_and_supersedes_only_waiting_ones() -> None:
    run_state_machine_as_test(SupersededMachine, settings=DEEPER)


def test_queued_mode_keeps_one_execution_per_stage_and_admits_in_arrival_order() -> None:
    run_state_machine_as_test(QueuedMachine, settings=DEEPER)


def test_parallel_mode_runs_executions_independently_through_the_same_stage_rules() -> None:
    run_state_machine_as_test(ParallelMachine, settings=DEEPER)
