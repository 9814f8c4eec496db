"""The provider catalogue: which action types Conveyor runs locally, and their artifact counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from domain.vocabulary import ActionCategory

KINDS = (
    "git-source",
    "s3-source",
    "codebuild",
    "shell",
    "s3-deploy",
    "manual-approval",
    "custom",
    "job-worker",
)
# Kinds no local provider runs: their attempts are jobs that an external job worker claims
# through CodePipeline's job protocol (PollForJobs, AcknowledgeJob, Put*Result). "custom" is
# owner Custom; "job-worker" is an AWS provider Conveyor accepts but does not implement.
JOB_WORKER_KINDS = frozenset({"custom", "job-worker"})

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
class Requirement:
    """Configuration an action type cannot run without: any one of `alternatives` (each a set
    of keys that must all hold a non-blank value), or a non-empty action field of `fields`."""

    what: str
    alternatives: tuple[tuple[str, ...], ...]
    fields: tuple[str, ...] = ()

    def met(self, configuration: Mapping[str, Any], action: Mapping[str, Any]) -> bool:
        if any(_filled(action.get(name)) for name in self.fields):
            return True
        return any(all(_filled(configuration.get(k)) for k in keys) for keys in self.alternatives)

    def describe(self) -> str:
        choices = [" and ".join(keys) for keys in self.alternatives]
        choices += [f"the action's '{name}' field" for name in self.fields]
        return f"{self.what}: set {' or '.join(choices)}"


def _filled(value: Any) -> bool:
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list):
        return any(isinstance(item, str) and item.strip() for item in value)
    return False


# The configuration each built-in kind needs, declared once: validation checks it when a
# definition is created or validated, so a missing key never waits until the action runs.
REPOSITORY_KEYS = ("RepositoryUrl", "Repository", "RepositoryName", "FullRepositoryId")
_REQUIRED: dict[str, tuple[Requirement, ...]] = {
    "git-source": (
        Requirement("the repository", (*((k,) for k in REPOSITORY_KEYS), ("Owner", "Repo"))),
        Requirement("the branch", (("BranchName",), ("Branch",))),
    ),
    "s3-source": (
        Requirement("the bucket", (("S3Bucket",),)),
        Requirement("the object", (("S3ObjectKey",),)),
    ),
    "s3-deploy": (Requirement("the bucket", (("BucketName",),)),),
    "shell": (Requirement("the commands to run", (("Commands",),), fields=("commands",)),),
}
# Configuration keys whose value is JSON text: a list of {name, value, type} objects.
_ENVIRONMENT_KEYS: dict[str, tuple[str, ...]] = {"codebuild": ("EnvironmentVariables",)}
# CodeBuild's environment variable types (the secret ones resolve from the workspace's store).
ENVIRONMENT_VARIABLE_TYPES = ("PLAINTEXT", "PARAMETER_STORE", "SECRETS_MANAGER")


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

    @property
    def required(self) -> tuple[Requirement, ...]:
        """The configuration this action type cannot run without."""
        return _REQUIRED.get(self.kind, ())

    @property
    def environment_keys(self) -> tuple[str, ...]:
        """Configuration keys holding a JSON list of {name, value, type} objects."""
        return _ENVIRONMENT_KEYS.get(self.kind, ())


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
