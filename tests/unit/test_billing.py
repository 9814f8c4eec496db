"""Billing example tests for the edge cases of spec §5.2, each run through the real engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from engine.simulation import Scenario, simulate
from projections.billing import BillingReport, BillingRules, billing_report, months_between
from projections.views import open_projections


def source() -> dict[str, Any]:
    return {
        "name": "Checkout",
        "actionTypeId": {
            "category": "Source",
            "owner": "AWS",
            "provider": "CodeCommit",
            "version": "1",
        },
        "configuration": {"RepositoryName": "app", "BranchName": "main"},
        "outputArtifacts": [{"name": "Src"}],
    }


def shell(name: str, run_order: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "runOrder": run_order,
        "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "Shell", "version": "1"},
        "configuration": {"Commands": "true"},
        "inputArtifacts": [{"name": "Src"}],
    }


def approval() -> dict[str, Any]:
    return {
        "name": "Approve",
        "actionTypeId": {
            "category": "Approval",
            "owner": "AWS",
            "provider": "Manual",
            "version": "1",
        },
    }


def pipeline(kind: str = "V1", *stages: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    body = list(stages) or [("Build", [shell("Build")])]
    return {
        "pipelineType": kind,
        "stages": [
            {"name": "Source", "actions": [source()]},
            *({"name": n, "actions": a} for n, a in body),
        ],
    }


def bill(
    events: list[dict[str, Any]],
    first: str,
    last: str | None = None,
    *,
    pipelines: dict[str, Any] | None = None,
    rules: BillingRules | None = None,
    plan: str = "auto",
    durations: dict[str, float] | None = None,
) -> BillingReport:
    document = {
        "name": "billing",
        "pipelines": pipelines or {"web": pipeline(), "api": pipeline()},
        "durations": durations or {},
        "events": events,
    }
    result = simulate(Scenario.from_document(document))
    assert result.errors == []
    views = open_projections(result.app, "sqlite://")
    views.catch_up()
    with views.engine.connect() as conn:
        return billing_report(conn, months_between(first, last or first), rules, plan)


def test_a_pipeline_created_mid_month_is_free_that_month_and_billed_the_next() -> None:
    report = bill(
        [
            {"at": "2027-01-15T10:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2027-01-25T10:00:00Z", "push": "web", "revision": "r1"},
            {"at": "2027-02-20T10:00:00Z", "push": "web", "revision": "r2"},
        ],
        "2027-01",
        "2027-02",
    )
    january = report.line("2027-01", "web")
    assert january.charge == 0 and not january.active
    assert "free until 2027-02-14" in january.reason
    february = report.line("2027-02", "web")
    assert february.charge == Decimal("1.00")
    assert february.reason == "created 2027-01-15, first billable change 2027-02-20 (revision r2)"


def test_a_change_on_day_29_is_free_and_a_change_on_day_31_makes_the_month_billable() -> None:
    report = bill(
        [
            {"at": "2026-12-30T00:00:00Z", "create": "api", "revision": "a0"},
            {"at": "2027-01-01T00:00:00Z", "create": "web", "revision": "w0"},
            {"at": "2027-01-30T00:00:00Z", "push": "web", "revision": "w1"},
            {"at": "2027-01-30T00:00:00Z", "push": "api", "revision": "a1"},
        ],
        "2027-01",
    )
    assert report.line("2027-01", "web").charge == 0  # age 29 days
    assert report.line("2027-01", "api").charge == Decimal("1.00")  # age 31 days
    assert report.month("2027-01").total == Decimal("1.00")


def test_the_lenient_rule_counts_a_change_inside_the_first_30_days_once_the_month_ends_older() -> (
    None
):
    events = [
        {"at": "2027-01-15T10:00:00Z", "create": "web", "revision": "r0"},
        {"at": "2027-02-10T10:00:00Z", "push": "web", "revision": "r1"},
    ]
    strict = bill(events, "2027-02")
    lenient = bill(events, "2027-02", rules=BillingRules(v1_age_rule="lenient"))
    assert strict.line("2027-02", "web").charge == 0
    assert lenient.line("2027-02", "web").charge == Decimal("1.00")


def test_a_pipeline_deleted_mid_month_is_billed_for_that_month_and_not_after() -> None:
    report = bill(
        [
            {"at": "2026-11-01T00:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2026-12-05T00:00:00Z", "push": "web", "revision": "r1"},
            {"at": "2026-12-10T00:00:00Z", "delete": "web"},
        ],
        "2026-12",
        "2027-01",
    )
    december = report.line("2026-12", "web")
    assert december.charge == Decimal("1.00")
    assert "deleted 2026-12-10" in december.reason
    assert all(line.pipeline != "web" for line in report.month("2027-01").lines)


def test_a_month_with_only_reruns_of_a_known_revision_is_not_billed_unless_configured() -> None:
    events = [
        {"at": "2026-11-01T00:00:00Z", "create": "web", "revision": "r0"},
        {"at": "2026-11-02T00:00:00Z", "push": "web", "revision": "r1"},
        {"at": "2026-12-05T00:00:00Z", "start": "web"},
        {"at": "2026-12-06T00:00:00Z", "start": "web"},
    ]
    default = bill(events, "2026-12")
    line = default.line("2026-12", "web")
    assert line.charge == 0 and line.executions == 2
    assert "no new source revision" in line.reason
    any_run = bill(events, "2026-12", rules=BillingRules(v1_any_execution_counts=True))
    assert any_run.line("2026-12", "web").charge == Decimal("1.00")


def test_many_executions_in_one_month_are_charged_once() -> None:
    events: list[dict[str, Any]] = [
        {"at": "2026-10-01T00:00:00Z", "create": "web", "revision": "r0"}
    ]
    events += [
        {"at": f"2026-12-{day:02d}T12:00:00Z", "push": "web", "revision": f"r{day}"}
        for day in range(1, 13)
    ]
    line = bill(events, "2026-12").line("2026-12", "web")
    assert line.charge == Decimal("1.00")
    assert line.executions == 12
    assert "12 billable executions, charged once" in line.reason


def test_the_free_tier_takes_one_active_v1_pipeline_off_each_month() -> None:
    events = [
        {"at": "2026-10-01T00:00:00Z", "create": "web", "revision": "w0"},
        {"at": "2026-10-01T00:00:00Z", "create": "api", "revision": "a0"},
        {"at": "2026-12-03T00:00:00Z", "push": "web", "revision": "w1"},
        {"at": "2026-12-04T00:00:00Z", "push": "api", "revision": "a1"},
    ]
    plain = bill(events, "2026-12").month("2026-12")
    assert plain.total == Decimal("2.00") and plain.active_pipelines == 2
    free = bill(events, "2026-12", rules=BillingRules(v1_free_tier=True)).month("2026-12")
    assert free.v1_subtotal == Decimal("2.00")
    assert free.v1_free_tier_credit == Decimal("1.00")
    assert free.total == Decimal("1.00")


def test_v2_rounds_each_action_execution_up_to_a_whole_minute() -> None:
    v2 = pipeline(
        "V2",
        ("Build", [shell("Compile")]),
        ("Test", [shell("Unit")]),
        ("Deploy", [shell("Ship")]),
    )
    report = bill(
        [{"at": "2027-03-01T00:00:00Z", "create": "web", "revision": "r0"}],
        "2027-03",
        pipelines={"web": v2},
        durations={"Checkout": 0, "Compile": 20, "Unit": 61, "Ship": 300},
    )
    line = report.line("2027-03", "web")
    assert line.plan == "v2"
    assert line.action_minutes == 8  # 1 + 2 + 5; the instant source action is 0
    assert line.charge == Decimal("0.016")


def test_approvals_are_not_billed_however_long_they_wait() -> None:
    gated = pipeline("V2", ("Build", [shell("Compile")]), ("Gate", [approval()]))
    report = bill(
        [
            {"at": "2027-03-01T00:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2027-03-01T05:00:00Z", "approve": "web", "stage": "Gate", "by": "alice"},
        ],
        "2027-03",
        pipelines={"web": gated},
        durations={"Checkout": 10, "Compile": 90},
    )
    assert report.line("2027-03", "web").action_minutes == 3  # 1 + 2; five hours of approval free


def test_the_v2_free_minutes_cover_the_first_100_minutes_of_the_account() -> None:
    v2 = pipeline("V2", ("Build", [shell("Compile")]))
    report = bill(
        [
            {"at": "2027-03-01T00:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2027-03-02T00:00:00Z", "push": "web", "revision": "r1"},
        ],
        "2027-03",
        pipelines={"web": v2},
        durations={"Checkout": 60, "Compile": 3600},
        rules=BillingRules(v2_free_tier=True),
    )
    month = report.month("2027-03")
    assert month.action_minutes == 122
    assert month.v2_free_minutes_used == 100
    assert month.total == Decimal("0.044")


def test_the_both_plan_prices_every_pipeline_under_v1_and_v2_side_by_side() -> None:
    report = bill(
        [
            {"at": "2026-10-01T00:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2026-12-01T00:00:00Z", "push": "web", "revision": "r1"},
        ],
        "2026-12",
        durations={"Checkout": 30, "Build": 150},
        plan="both",
    )
    assert report.line("2026-12", "web", "v1").charge == Decimal("1.00")
    assert report.line("2026-12", "web", "v2").charge == Decimal("0.008")


def test_rules_come_from_settings_with_camel_case_keys_and_unknown_keys_are_refused() -> None:
    rules = BillingRules.from_mapping({"v1FreeTier": True, "v2PricePerMinute": "0.003"})
    assert rules.v1_free_tier and rules.v2_price_per_minute == Decimal("0.003")
    from domain.errors import ValidationException

    with pytest.raises(ValidationException, match=r"billing\.v3Price"):
        BillingRules.from_mapping({"v3Price": 1})


def test_the_csv_report_has_a_line_per_pipeline_and_a_total_per_month() -> None:
    report = bill(
        [
            {"at": "2026-10-01T00:00:00Z", "create": "web", "revision": "r0"},
            {"at": "2026-12-01T00:00:00Z", "push": "web", "revision": "r1"},
        ],
        "2026-11",
        "2026-12",
    )
    lines = report.to_csv().splitlines()
    assert lines[0].startswith("month,pipeline,")
    assert any(line.startswith("2026-12,web,V1,v1,1,1,") and ",1.000," in line for line in lines)
    assert lines[-1].startswith("2026-12,(total),")
