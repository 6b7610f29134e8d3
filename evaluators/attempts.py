"""Retry-once of episodes lost to the infrastructure: which record of an episode counts, and whether it is final.

An attempt that ended in an env error (the env worker died or hung past a
deadline, the simulator raised or went unstable: ``error_kind`` in
``RETRIED_ERROR_KINDS``) is run once more, on a fresh env; policy faults and
task failures are final at once. Every attempt is its own record with an
``attempt`` number (records written before this field existed count as
attempt 1). The record of an episode, for tables, status and resume, is its
latest attempt; an episode is done once that record is final.
"""

from __future__ import annotations

from typing import Any, Iterable

MAX_ATTEMPTS = 2
RETRIED_ERROR_KINDS = frozenset({"env"})


def attempt_of(record: dict[str, Any]) -> int:
    """The record's attempt number (1 for records without the field)."""
    return int(record.get("attempt", 1))


def is_final(record: dict[str, Any]) -> bool:
    """False only for an env-error attempt that still has a retry left."""
    retryable = record.get("status") == "error" and record.get("error_kind") in RETRIED_ERROR_KINDS
    return not retryable or attempt_of(record) >= MAX_ATTEMPTS


def latest_attempts(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Episode id -> its record with the highest attempt (the first written on ties), ids in first-seen order."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        eid = rec.get("episode_id")
        if not eid:
            continue
        if eid not in latest:
            latest[eid] = rec
        elif attempt_of(rec) > attempt_of(latest[eid]):
            latest[eid] = rec  # keeps the id's first position in the dict
    return latest
