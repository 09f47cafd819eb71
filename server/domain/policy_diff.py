"""What changed between two policy versions (pure): a flat list of {path, old, new}, in the
stored (string) form so it can be kept as JSON and shown as is."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from server.domain.policy import OfferPolicy, policy_to_dict

Change = dict[str, Any]


def _rows(kind: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Change]:
    changes: list[Change] = []
    for i in range(max(len(old), len(new))):
        path = f"{kind}[{i}]"
        if i >= len(old):
            changes.append({"path": path, "old": None, "new": new[i]})
        elif i >= len(new):
            changes.append({"path": path, "old": old[i], "new": None})
        else:
            for name in sorted(set(old[i]) | set(new[i])):
                a, b = old[i].get(name), new[i].get(name)
                if _norm(a) != _norm(b):
                    changes.append({"path": f"{path}.{name}", "old": a, "new": b})
    return changes


def _norm(value: Any) -> Any:
    # "10" and "10.00" are the same limit: compare numbers as numbers.
    if isinstance(value, str):
        try:
            return Decimal(value).normalize()
        except InvalidOperation:
            return value
    return value


def policy_diff(old: OfferPolicy | None, new: OfferPolicy) -> list[Change]:
    if old is None:
        return []
    a, b = policy_to_dict(old), policy_to_dict(new)
    changes = _rows("rules", a["rules"], b["rules"]) + _rows("ladder", a["ladder"], b["ladder"])
    if a["notes"] != b["notes"]:
        changes.append({"path": "notes", "old": a["notes"], "new": b["notes"]})
    return changes
