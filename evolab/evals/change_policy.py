"""A suite's review policy for change requests, set by the project's owners.

Stored as JSON on the suite (`EvalSuite.change_policy`); missing keys keep their
defaults, so an empty policy is the default one: one approval from a reviewer or
higher, two when the change touches the holdout split, and no direct application.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from evolab.core.errors import ValidationFailed
from evolab.projects.models import Role

APPROVER_ROLES = ("reviewer", "maintainer", "owner")
MAX_APPROVALS = 10
MAX_DIRECT_OPS = 1000


@dataclass(frozen=True)
class SuitePolicy:
    approvals_needed: int = 1
    # Stricter: a change that adds, edits, moves or deletes a held-out case.
    approvals_needed_holdout: int = 2
    approver_min_role: str = "reviewer"
    # Whether maintainers may apply a *small* change request without its approvals:
    # at most `direct_max_ops` operations and none touching the holdout split.
    allow_direct_apply: bool = False
    direct_max_ops: int = 5

    @property
    def approver_rank(self) -> Role:
        return next(role for role in Role if role.label == self.approver_min_role)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_small(self, op_count: int, touches_holdout: bool) -> bool:
        return op_count <= self.direct_max_ops and not touches_holdout

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SuitePolicy:
        """The policy from stored or submitted settings; ValidationFailed names the field at fault."""
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValidationFailed(f"Unknown policy setting '{unknown[0]}'.", field=unknown[0])
        values: dict[str, Any] = {}
        for name in ("approvals_needed", "approvals_needed_holdout"):
            if name in data:
                values[name] = _count(name, data[name], 0, MAX_APPROVALS)
        if "direct_max_ops" in data:
            values["direct_max_ops"] = _count("direct_max_ops", data["direct_max_ops"], 1, MAX_DIRECT_OPS)
        if "approver_min_role" in data:
            if data["approver_min_role"] not in APPROVER_ROLES:
                raise ValidationFailed(
                    f"approver_min_role is one of {', '.join(APPROVER_ROLES)}.", field="approver_min_role"
                )
            values["approver_min_role"] = data["approver_min_role"]
        if "allow_direct_apply" in data:
            if not isinstance(data["allow_direct_apply"], bool):
                raise ValidationFailed("allow_direct_apply is true or false.", field="allow_direct_apply")
            values["allow_direct_apply"] = data["allow_direct_apply"]
        policy = cls(**values)
        if policy.approvals_needed_holdout < policy.approvals_needed:
            raise ValidationFailed(
                "The holdout split needs at least as many approvals as other changes.",
                field="approvals_needed_holdout",
            )
        return policy


def _count(name: str, value: Any, lowest: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise ValidationFailed(f"{name} is a whole number from {lowest} to {highest}.", field=name)
    return value
