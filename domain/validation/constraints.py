"""CodePipeline's local field constraints: name patterns, lengths, ranges and allowed values."""

from __future__ import annotations

from dataclasses import dataclass

from domain.variables import CODEPIPELINE, PIPELINE_VARIABLES
from domain.vocabulary import ExecutionMode, PipelineType, RetryMode

NAME_PATTERN = r"[A-Za-z0-9.@\-_]+"
ARTIFACT_NAME_PATTERN = r"[a-zA-Z0-9_\-]+"
NAMESPACE_PATTERN = r"[A-Za-z0-9@\-_]+"
VARIABLE_NAME_PATTERN = r"[A-Za-z0-9@\-_]+"
ENVIRONMENT_NAME_PATTERN = r"[A-Za-z0-9_]+"
PROVIDER_PATTERN = r"[0-9A-Za-z_-]+"
ROLE_ARN_PATTERN = r"arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*"
STORE_LOCATION_PATTERN = r"[a-zA-Z0-9\-\.]+"

# Orders are the ones problem messages list them in.
EXECUTION_MODES = (ExecutionMode.QUEUED, ExecutionMode.SUPERSEDED, ExecutionMode.PARALLEL)
PIPELINE_TYPES = (PipelineType.V1, PipelineType.V2)
RETRY_MODES = (RetryMode.FAILED_ACTIONS, RetryMode.ALL_ACTIONS)
ENVIRONMENT_TYPES = ("PLAINTEXT", "SECRETS_MANAGER")
# Results each condition type may take (user guide, stage conditions); the API's shared enum is
# wider, but a FAIL on failure or a SKIP on success has no meaning.
FAILURE_RESULTS = ("ROLLBACK", "RETRY")
SUCCESS_RESULTS = ("ROLLBACK", "FAIL")
ENTRY_RESULTS = ("FAIL", "SKIP")
RESERVED_NAMESPACES = (CODEPIPELINE, PIPELINE_VARIABLES)

RUN_ORDER_RANGE = (1, 999)
TIMEOUT_RANGE = (5, 86400)
CONFIGURATION_KEY_MAX = 50
CONFIGURATION_VALUE_MAX = 1000
ENVIRONMENT_VARIABLES_MAX = 10
CONDITION_RULES_MAX = 5


@dataclass(frozen=True)
class Text:
    """How one string field is checked: its length, its pattern and the rule ids it reports."""

    what: str  # how messages name the field
    low: int
    high: int
    pattern: str | None = None
    allowed: str = ""  # what the pattern allows, in words
    rule: str = "name"  # rule ids are `<rule>.length` and `<rule>.pattern`


_NAME_CHARACTERS = "may contain only letters, digits and . @ - _"
_TOKEN_CHARACTERS = "may contain only letters, digits, '-' and '_'"
_VARIABLE_CHARACTERS = "may contain only letters, digits, '@', '-' and '_'"


def name(what: str) -> Text:
    """A pipeline, stage or action name."""
    return Text(what, 1, 100, NAME_PATTERN, _NAME_CHARACTERS)


ROLE_ARN = Text(
    "roleArn",
    0,
    1024,
    ROLE_ARN_PATTERN,
    "must be an IAM role ARN like arn:aws:iam::123456789012:role/name",
    "roleArn",
)
STORE_REGION = Text("an artifact store region", 4, 30, rule="region")
STORE_LOCATION = Text(
    "the artifact store location",
    3,
    63,
    STORE_LOCATION_PATTERN,
    "may contain only letters, digits, '-' and '.'",
    "location",
)
VARIABLE_NAME = Text(
    "a pipeline variable name", 1, 128, VARIABLE_NAME_PATTERN, _VARIABLE_CHARACTERS
)
VARIABLE_DEFAULT = Text("a default value", 1, 1000, rule="defaultValue")
VARIABLE_DESCRIPTION = Text("a description", 0, 200, rule="description")
BLOCKER_NAME = Text("a blocker name", 1, 100)
PROVIDER = Text("a provider", 1, 35, PROVIDER_PATTERN, _TOKEN_CHARACTERS, "provider")
VERSION = Text("a version", 1, 9, PROVIDER_PATTERN, _TOKEN_CHARACTERS, "version")
ACTION_REGION = Text("a region", 4, 30, rule="region")
NAMESPACE = Text("a namespace", 1, 100, NAMESPACE_PATTERN, _VARIABLE_CHARACTERS, "namespace")
ARTIFACT_NAME = Text("an artifact name", 1, 100, ARTIFACT_NAME_PATTERN, _TOKEN_CHARACTERS)
ENVIRONMENT_NAME = Text(
    "an environment variable name",
    1,
    128,
    ENVIRONMENT_NAME_PATTERN,
    "may contain only letters, digits and '_'",
)
ENVIRONMENT_VALUE = Text("an environment variable value", 1, 2000, rule="value")


@dataclass(frozen=True)
class StringList:
    """How a list of strings is checked: its entry count and each entry's length."""

    what: str  # the field's name, also the rule ids' prefix
    most: int
    longest: int


COMMANDS = StringList("commands", 50, 1000)
OUTPUT_VARIABLES = StringList("outputVariables", 15, 128)
FILES = StringList("files", 10, 128)
