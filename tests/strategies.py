"""Hypothesis strategies for pipeline definitions that parse_definition accepts (raw dicts)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

EXECUTION_MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


class _Draft:
    """What a definition being drawn has so far: artifacts and namespaces later actions may use."""

    def __init__(self, draw: st.DrawFn, variables: list[str]) -> None:
        self.draw = draw
        self.variables = variables
        self.artifacts: list[str] = []
        self.namespaces: list[str] = []

    def sources(self) -> list[dict[str, Any]]:
        draw = self.draw
        sources = []
        for index in range(draw(st.integers(min_value=1, max_value=2))):
            provider = draw(st.sampled_from(["CodeCommit", "Git"]))
            self.artifacts.append(f"Artifact{len(self.artifacts) + 1}")
            action: dict[str, Any] = {
                "name": f"Source{index + 1}",
                "actionTypeId": _type("Source", provider),
                "configuration": {"RepositoryName": f"repo{index + 1}", "BranchName": "main"},
                "outputArtifacts": [{"name": self.artifacts[-1]}],
            }
            if draw(st.booleans()):
                self.namespaces.append(f"SourceVariables{index + 1}")
                action["namespace"] = self.namespaces[-1]
            sources.append(action)
        return sources

    def stage_actions(self, stage_index: int) -> list[dict[str, Any]]:
        orders = sorted(self.draw(st.sets(st.integers(1, 999), min_size=1, max_size=3)))
        actions: list[dict[str, Any]] = []
        for order in orders:
            # Outputs and namespaces of a group become visible only to later groups.
            produced: list[str] = []
            declared: list[str] = []
            for _ in range(self.draw(st.integers(min_value=1, max_value=3))):
                name = f"Action{stage_index}x{len(actions) + 1}"
                actions.append(self.action(name, order, produced, declared))
            self.artifacts.extend(produced)
            self.namespaces.extend(declared)
        return actions

    def action(
        self, name: str, order: int, produced: list[str], declared: list[str]
    ) -> dict[str, Any]:
        draw = self.draw
        kind = draw(st.sampled_from(["Shell", "Shell", "CodeBuild", "Manual"]))
        action: dict[str, Any] = {"name": name, "runOrder": order}
        if kind == "Manual":
            action["actionTypeId"] = _type("Approval", "Manual")
            if draw(st.booleans()):
                action["timeoutInMinutes"] = draw(st.integers(5, 86400))
            return action
        category = draw(st.sampled_from(["Build", "Test"]))
        action["actionTypeId"] = _type(category, kind)
        low = 1 if kind == "CodeBuild" else 0
        inputs = draw(
            st.lists(st.sampled_from(self.artifacts), min_size=low, max_size=3, unique=True)
        )
        action["inputArtifacts"] = [{"name": artifact} for artifact in inputs]
        outputs = [f"Artifact{len(self.artifacts) + len(produced) + 1}"]
        if draw(st.booleans()):
            produced.extend(outputs)
            action["outputArtifacts"] = [{"name": outputs[0]}]
        command = "echo #{codepipeline.PipelineExecutionId}"
        readable = [f"#{{{ns}.CommitId}}" for ns in self.namespaces]
        readable += [f"#{{variables.{variable}}}" for variable in self.variables]
        if readable:
            command += " " + draw(st.sampled_from(readable))
        key = "Commands" if kind == "Shell" else "ProjectName"
        action["configuration"] = {key: command}
        if draw(st.booleans()):
            declared.append("Vars" + name.removeprefix("Action"))
            action["namespace"] = declared[-1]
        return action


@st.composite
def valid_definitions(draw: st.DrawFn, max_stages: int = 10) -> dict[str, Any]:
    """A definition as `get-pipeline` would print it, bare: a source stage (CodeCommit or Git)
    then 1..max_stages-1 stages of Shell/CodeBuild actions (and optional Manual approvals) in
    parallel runOrder groups, each input produced earlier, some actions reading the variables of
    earlier namespaces; executionMode among the three, with pipelineType V2 when needed.
    """
    mode = draw(st.sampled_from(EXECUTION_MODES))
    v2 = mode != "SUPERSEDED" or draw(st.booleans())
    variables = draw(st.lists(st.sampled_from(["Env", "Region", "Flag"]), unique=True, max_size=3))
    variables = variables if v2 else []
    stage_count = draw(st.integers(min_value=2, max_value=max_stages))
    draft = _Draft(draw, variables)
    stages: list[dict[str, Any]] = [{"name": "Source", "actions": draft.sources()}]
    for stage_index in range(1, stage_count):
        stage: dict[str, Any] = {
            "name": f"Stage{stage_index}",
            "actions": draft.stage_actions(stage_index),
        }
        if v2 and draw(st.booleans()):
            stage["onFailure"] = {
                "result": "RETRY",
                "retryConfiguration": {
                    "retryMode": draw(st.sampled_from(["FAILED_ACTIONS", "ALL_ACTIONS"]))
                },
            }
        stages.append(stage)

    document: dict[str, Any] = {
        "name": draw(st.from_regex(r"[A-Za-z0-9._@-]{1,30}", fullmatch=True))
    }
    document["stages"] = stages
    if mode != "SUPERSEDED" or draw(st.booleans()):
        document["executionMode"] = mode
    if v2:
        document["pipelineType"] = "V2"
    elif draw(st.booleans()):
        document["pipelineType"] = "V1"
    if variables:
        document["variables"] = [{"name": name, "defaultValue": "x"} for name in variables]
    return document
