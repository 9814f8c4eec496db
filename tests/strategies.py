"""Hypothesis strategies for pipeline definitions that parse_definition accepts (raw dicts)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

EXECUTION_MODES = ("SUPERSEDED", "QUEUED", "PARALLEL")


def _type(category: str, provider: str) -> dict[str, str]:
    return {"category": category, "owner": "AWS", "provider": provider, "version": "1"}


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

    artifacts: list[str] = []
    namespaces: list[str] = []

    def new_artifact() -> str:
        artifacts.append(f"Artifact{len(artifacts) + 1}")
        return artifacts[-1]

    sources = []
    for index in range(draw(st.integers(min_value=1, max_value=2))):
        provider = draw(st.sampled_from(["CodeCommit", "Git"]))
        action: dict[str, Any] = {
            "name": f"Source{index + 1}",
            "actionTypeId": _type("Source", provider),
            "configuration": {"RepositoryName": f"repo{index + 1}", "BranchName": "main"},
            "outputArtifacts": [{"name": new_artifact()}],
        }
        if draw(st.booleans()):
            namespaces.append(f"SourceVariables{index + 1}")
            action["namespace"] = namespaces[-1]
        sources.append(action)
    stages: list[dict[str, Any]] = [{"name": "Source", "actions": sources}]

    for stage_index in range(1, stage_count):
        orders = sorted(draw(st.sets(st.integers(1, 999), min_size=1, max_size=3)))
        actions: list[dict[str, Any]] = []
        for order in orders:
            # Outputs and namespaces of a group become visible only to later groups.
            produced: list[str] = []
            declared: list[str] = []
            for _ in range(draw(st.integers(min_value=1, max_value=3))):
                name = f"Action{stage_index}x{len(actions) + 1}"
                kind = draw(st.sampled_from(["Shell", "Shell", "CodeBuild", "Manual"]))
                action = {"name": name, "runOrder": order}
                if kind == "Manual":
                    action["actionTypeId"] = _type("Approval", "Manual")
                    if draw(st.booleans()):
                        action["timeoutInMinutes"] = draw(st.integers(5, 86400))
                    actions.append(action)
                    continue
                category = draw(st.sampled_from(["Build", "Test"]))
                action["actionTypeId"] = _type(category, kind)
                low = 1 if kind == "CodeBuild" else 0
                inputs = draw(
                    st.lists(st.sampled_from(artifacts), min_size=low, max_size=3, unique=True)
                )
                action["inputArtifacts"] = [{"name": artifact} for artifact in inputs]
                outputs = [f"Artifact{len(artifacts) + len(produced) + 1}"]
                if draw(st.booleans()):
                    produced.extend(outputs)
                    action["outputArtifacts"] = [{"name": outputs[0]}]
                command = "echo #{codepipeline.PipelineExecutionId}"
                readable = [f"#{{{ns}.CommitId}}" for ns in namespaces]
                readable += [f"#{{variables.{variable}}}" for variable in variables]
                if readable:
                    command += " " + draw(st.sampled_from(readable))
                key = "Commands" if kind == "Shell" else "ProjectName"
                action["configuration"] = {key: command}
                if draw(st.booleans()):
                    declared.append(f"Vars{stage_index}x{len(actions) + 1}")
                    action["namespace"] = declared[-1]
                actions.append(action)
            artifacts.extend(produced)
            namespaces.extend(declared)
        stage: dict[str, Any] = {"name": f"Stage{stage_index}", "actions": actions}
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
