"""API access keys: one aggregate per key, and a registry that keeps live names unique."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from domain.errors import ConveyorError, ValidationException
from domain.state import CopyOnWrite

KEY_REGISTRY_ID = uuid5(NAMESPACE_URL, "conveyor:access-key-registry")
# AWS's shape for a long-term access key id: AKIA and 16 upper-case letters and digits.
KEY_ID = re.compile(r"^AKIA[A-Z0-9]{16}$")
# IAM's characters for a user name, which is what a key's name stands for in the audit trail.
_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,64}$")
ROLES = ("viewer", "operator", "approver", "admin")


class AccessKeyNameInUseException(ConveyorError):
    """A live access key already has this name."""

    code = "EntityAlreadyExistsException"


class NoSuchAccessKeyException(ConveyorError):
    """No access key has this name or key id."""

    code = "NoSuchEntityException"


def access_key_id(key_id: str) -> UUID:
    """The aggregate id of the key with this key id: found without scanning anything."""
    return uuid5(NAMESPACE_URL, f"conveyor:access-key:{key_id}")


def check_key_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationException(
            f"name '{name}': use 1 to 64 letters, digits and +=,.@_- [access-key.name]"
        )
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationException(
            f"role '{role}': must be one of {', '.join(ROLES)} [access-key.role]"
        )
    return role


def check_key_id(key_id: str) -> str:
    if not KEY_ID.match(key_id):
        raise ValidationException(
            f"key id '{key_id}': AKIA and 16 upper-case letters or digits [access-key.id]"
        )
    return key_id


class AccessKey(CopyOnWrite, Aggregate):
    """One access key: who it names, its role, and its secret as the workspace key encrypted it.

    The plaintext secret is never in an event: the application encrypts it before it gets here.
    """

    class AccessKeyCreated(Aggregate.Created):
        key_id: str
        name: str
        role: str
        encrypted_secret: str
        by: str

    def __init__(
        self, key_id: str, name: str, role: str, encrypted_secret: str, by: str, **_: Any
    ) -> None:
        self.key_id = key_id
        self.name = name
        self.role = role
        self.encrypted_secret = encrypted_secret
        self.created_by = by
        self.revoked_at: datetime | None = None
        self.revoked_by: str | None = None

    @classmethod
    def create(
        cls,
        *,
        key_id: str,
        name: str,
        role: str,
        encrypted_secret: str,
        by: str,
        now: datetime,
    ) -> AccessKey:
        check_key_id(key_id)
        check_key_name(name)
        check_role(role)
        return cls._create(
            cls.AccessKeyCreated,
            id=access_key_id(key_id),
            key_id=key_id,
            name=name,
            role=role,
            encrypted_secret=encrypted_secret,
            by=by,
            timestamp=now,
        )

    @property
    def created_at(self) -> datetime:
        return self.created_on

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, *, by: str, now: datetime) -> None:
        if self.revoked:
            raise ValidationException(
                f"access key {self.key_id} ({self.name}) was already revoked at "
                f"{self.revoked_at} [access-key.revoked]"
            )
        self.trigger_event(self.AccessKeyRevoked, by=by, timestamp=now)

    class AccessKeyRevoked(Aggregate.Event):
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.revoked_at = self.timestamp
            aggregate.revoked_by = self.by


class AccessKeyRegistry(CopyOnWrite, Aggregate):
    """Every key id ever created, and which key each live name belongs to.

    One aggregate, so two processes creating the same name race on its version and exactly
    one of them wins; a revoked key's name is free again, its key id stays listed.
    """

    class Created(Aggregate.Created):
        pass

    def __init__(self, **_: Any) -> None:
        self.live: dict[str, str] = {}  # name -> key id
        self.keys: dict[str, str] = {}  # key id -> name, in creation order

    @classmethod
    def open(cls, now: datetime) -> AccessKeyRegistry:
        return cls._create(cls.Created, id=KEY_REGISTRY_ID, timestamp=now)

    def key_of(self, name_or_key_id: str) -> str:
        """The key id a live name or a known key id stands for."""
        if name_or_key_id in self.keys:
            return name_or_key_id
        found = self.live.get(name_or_key_id)
        if found is None:
            raise NoSuchAccessKeyException(
                f"no live access key named '{name_or_key_id}' and no key with that id"
            )
        return found

    def register(self, name: str, key_id: str, *, by: str, now: datetime) -> None:
        check_key_name(name)
        if name in self.live:
            raise AccessKeyNameInUseException(
                f"an access key named '{name}' already exists ({self.live[name]}); "
                "revoke it first or choose another name"
            )
        if key_id in self.keys:
            raise ValidationException(f"key id {key_id} is already taken [access-key.id]")
        self.trigger_event(
            self.AccessKeyNameRegistered, name=name, key_id=key_id, by=by, timestamp=now
        )

    def release(self, name: str, *, by: str, now: datetime) -> None:
        if name in self.live:
            self.trigger_event(self.AccessKeyNameReleased, name=name, by=by, timestamp=now)

    class AccessKeyNameRegistered(Aggregate.Event):
        name: str
        key_id: str
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.live = {**aggregate.live, self.name: self.key_id}
            aggregate.keys = {**aggregate.keys, self.key_id: self.name}

    class AccessKeyNameReleased(Aggregate.Event):
        name: str
        by: str

        def apply(self, aggregate: Any) -> None:
            aggregate.live = {k: v for k, v in aggregate.live.items() if k != self.name}
