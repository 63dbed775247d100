"""Who may do what in the console, decided by Airflow's auth manager.

Capabilities, and the Airflow role each needs under SimpleAuthManager (the demo's; its roles are
ordered viewer < user < op < admin and each includes the ones below it):

    health         feed health, without personal data                         viewer
    details        quarantine, financing, cash application, audit log pages    user
                   (names and IBANs masked)
    personal_data  names and IBANs in full                                     op
    operate        replay and discard quarantine rows, resolve, reject and     op
                   teach cash application, replay dead letters
    approve        approve financing batches                                   admin
    settings       change the console's settings                               admin

SimpleAuthManager has no custom permissions, so its ``admin`` role stands for the approver. Any
other auth manager (FAB, Keycloak...) is asked through ``is_authorized_custom_view`` for the
resource names below, so a deployment grants approving separately from administering.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import Depends, HTTPException, status


class Capability(enum.StrEnum):
    HEALTH = "health"
    DETAILS = "details"
    PERSONAL_DATA = "personal_data"
    OPERATE = "operate"
    APPROVE = "approve"
    SETTINGS = "settings"


SIMPLE_ROLES = ("viewer", "user", "op", "admin")  # SimpleAuthManager's, lowest first
SIMPLE_MIN_ROLE = {
    Capability.HEALTH: "viewer",
    Capability.DETAILS: "user",
    Capability.PERSONAL_DATA: "op",
    Capability.OPERATE: "op",
    Capability.APPROVE: "admin",
    Capability.SETTINGS: "admin",
}
# (method, resource name) of each capability for auth managers with custom permissions.
CUSTOM_VIEW: dict[Capability, tuple[Literal["GET", "POST", "PUT", "DELETE"], str]] = {
    Capability.HEALTH: ("GET", "Ledgerlink"),
    Capability.DETAILS: ("GET", "Ledgerlink Operations"),
    Capability.PERSONAL_DATA: ("GET", "Ledgerlink Personal Data"),
    Capability.OPERATE: ("POST", "Ledgerlink Operations"),
    Capability.APPROVE: ("POST", "Ledgerlink Financing Approval"),
    Capability.SETTINGS: ("PUT", "Ledgerlink Settings"),
}


def capabilities(user: Any, auth_manager: Any = None) -> frozenset[Capability]:
    """What ``user`` may do in the console."""
    manager = auth_manager or get_auth_manager()
    role = getattr(user, "role", None)
    if type(manager).__name__ == "SimpleAuthManager":
        rank = SIMPLE_ROLES.index(role.lower()) if isinstance(role, str) and role.lower() in SIMPLE_ROLES else -1
        return frozenset(c for c, needed in SIMPLE_MIN_ROLE.items() if rank >= SIMPLE_ROLES.index(needed))
    return frozenset(c for c, (method, resource) in CUSTOM_VIEW.items()
                     if manager.is_authorized_custom_view(method=method, resource_name=resource, user=user))


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str | None
    can: frozenset[Capability]
    airflow_user: Any = field(default=None, compare=False, repr=False)

    @property
    def actor(self) -> str:
        """How the audit log names the user (as the financing approval does)."""
        return f"airflow:{self.name}"

    @property
    def sees_personal_data(self) -> bool:
        return Capability.PERSONAL_DATA in self.can


def requires(capability: Capability) -> Any:
    """A dependency: the signed-in user when they have ``capability``; 401 when nobody is signed in
    (browsers are sent to the login page), 403 otherwise."""

    def check(user: GetUserDep) -> ConsoleUser:
        allowed = capabilities(user)
        if capability not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"{user.get_name()} may not do this: it needs the {capability.value} permission")
        return ConsoleUser(user.get_name(), getattr(user, "role", None), allowed, user)

    return Depends(check)


Health = Annotated[ConsoleUser, requires(Capability.HEALTH)]
Details = Annotated[ConsoleUser, requires(Capability.DETAILS)]
Operate = Annotated[ConsoleUser, requires(Capability.OPERATE)]
Approve = Annotated[ConsoleUser, requires(Capability.APPROVE)]
Admin = Annotated[ConsoleUser, requires(Capability.SETTINGS)]
