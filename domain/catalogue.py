"""The provider catalogue: which action types Conveyor runs locally, and their artifact counts."""

from __future__ import annotations

from dataclasses import dataclass

from domain.vocabulary import ActionCategory

KINDS = (
    "git-source",
    "s3-source",
    "codebuild",
    "shell",
    "s3-deploy",
    "manual-approval",
    "custom",
)

# In the order messages and the JSON Schema list them.
CATEGORIES = (
    ActionCategory.SOURCE,
    ActionCategory.BUILD,
    ActionCategory.DEPLOY,
    ActionCategory.TEST,
    ActionCategory.INVOKE,
    ActionCategory.APPROVAL,
    ActionCategory.COMPUTE,
)
OWNERS = ("AWS", "ThirdParty", "Custom")


@dataclass(frozen=True)
class ProviderSpec:
    """One action type: its identity, allowed input/output artifact counts and local meaning."""

    category: str
    owner: str
    provider: str
    inputs: tuple[int, int]
    outputs: tuple[int, int]
    kind: str
    default_timeout_minutes: int
    billable: bool = True


_HOUR = 60
_GIT = ((0, 0), (1, 1), "git-source", _HOUR)
_SHELL = ((0, 5), (0, 5), "shell", _HOUR)
_CODEBUILD = ((1, 5), (0, 5), "codebuild", 8 * _HOUR)  # CodeBuild's own 8-hour cap


def _spec(
    category: str,
    owner: str,
    provider: str,
    shape: tuple[tuple[int, int], tuple[int, int], str, int],
) -> ProviderSpec:
    inputs, outputs, kind, timeout = shape
    return ProviderSpec(category, owner, provider, inputs, outputs, kind, timeout)


_SPECS: tuple[ProviderSpec, ...] = (
    # Every CodePipeline git-like source maps to a local git repository, so imported pipelines
    # run unchanged; Git itself is Conveyor's own name and is accepted under both owners.
    _spec(ActionCategory.SOURCE, "AWS", "Git", _GIT),
    _spec(ActionCategory.SOURCE, "ThirdParty", "Git", _GIT),
    _spec(ActionCategory.SOURCE, "AWS", "CodeCommit", _GIT),
    _spec(ActionCategory.SOURCE, "AWS", "CodeStarSourceConnection", _GIT),
    _spec(ActionCategory.SOURCE, "ThirdParty", "GitHub", _GIT),
    ProviderSpec(ActionCategory.SOURCE, "AWS", "S3", (0, 0), (1, 1), "s3-source", _HOUR),
    _spec(ActionCategory.BUILD, "AWS", "CodeBuild", _CODEBUILD),
    _spec(ActionCategory.TEST, "AWS", "CodeBuild", _CODEBUILD),
    _spec(ActionCategory.BUILD, "AWS", "Shell", _SHELL),
    _spec(ActionCategory.TEST, "AWS", "Shell", _SHELL),
    _spec(ActionCategory.DEPLOY, "AWS", "Shell", _SHELL),
    _spec(ActionCategory.INVOKE, "AWS", "Shell", _SHELL),
    _spec(ActionCategory.COMPUTE, "AWS", "Commands", _SHELL),
    ProviderSpec(ActionCategory.DEPLOY, "AWS", "S3", (1, 1), (0, 0), "s3-deploy", 90),
    # Waiting for a person is not compute time: V2 pricing excludes manual approvals.
    ProviderSpec(
        ActionCategory.APPROVAL,
        "AWS",
        "Manual",
        (0, 0),
        (0, 0),
        "manual-approval",
        7 * 24 * _HOUR,
        billable=False,
    ),
)

_BY_KEY = {(spec.category, spec.owner, spec.provider): spec for spec in _SPECS}

# Custom actions are run by external job workers, which bill their own time.
_CUSTOM_TIMEOUT_MINUTES = 24 * _HOUR


def lookup(category: str, owner: str, provider: str) -> ProviderSpec | None:
    """The spec of an action type, or None when Conveyor cannot run it."""
    if owner == "Custom":
        if category not in CATEGORIES:
            return None
        return ProviderSpec(
            category,
            owner,
            provider,
            (0, 5),
            (0, 5),
            "custom",
            _CUSTOM_TIMEOUT_MINUTES,
            billable=False,
        )
    return _BY_KEY.get((category, owner, provider))


def known_providers(category: str | None = None) -> list[str]:
    """Provider names Conveyor knows (for one category when given), sorted, without repeats."""
    names = {spec.provider for spec in _SPECS if category is None or spec.category == category}
    return sorted(names)


def specs() -> tuple[ProviderSpec, ...]:
    """Every built-in (non-custom) action type."""
    return _SPECS
