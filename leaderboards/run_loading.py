"""Load a run folder into one frame of planned episodes and their outcomes.

Each planned episode becomes one row with its plan columns and a ``status``
of success / failure / error / missing. The plan comes from, in order:

1. ``plan.jsonl`` in the run folder (one EpisodeSpec row per line), the
   format any command that plans episodes may write;
2. the ``h05 eval`` manifest, re-planned from its config and checked against
   the recorded plan hash;
3. otherwise the plan is unknown: rows are the records only, and the
   manifest's episode count says how many are missing overall.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from evaluators.store import MANIFEST, EpisodeStore

PLAN_FILE = "plan.jsonl"
SPEC_COLUMNS = (
    "benchmark", "suite", "task", "embodiment", "trial", "init_index", "seed",
    "policy", "executor", "delay", "perturbation", "severity", "variant",
)
FRAME_COLUMNS = ("episode_id",) + SPEC_COLUMNS + ("status", "error_kind", "finished_at")


class RunFolderError(ValueError):
    """A path given to the leaderboard that is not a readable run folder."""


@dataclass
class Run:
    """One run folder: its manifest, episodes frame and what its plan source was."""

    name: str
    path: Path
    manifest: dict[str, Any]
    episodes: pd.DataFrame
    plan_source: str  # "plan.jsonl", "manifest", or "unknown"
    versions: dict[str, str] = field(default_factory=dict)
    unplanned_missing: int = 0  # only when the plan is unknown

    @property
    def plan_known(self) -> bool:
        return self.plan_source != "unknown"

    @property
    def config_hash(self) -> str:
        blob = json.dumps(self.manifest.get("config", {}), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def variant_key(variant: Any) -> str:
    """A canonical string for a spec's variant dict ("-" when empty)."""
    if variant in (None, {}, "") or (isinstance(variant, float) and pd.isna(variant)):
        return "-"
    if isinstance(variant, str):
        return variant
    return json.dumps(variant, sort_keys=True, separators=(",", ":"))


def _spec_row(spec: dict[str, Any]) -> dict[str, Any]:
    row = {k: spec.get(k) for k in SPEC_COLUMNS}
    row["variant"] = variant_key(spec.get("variant"))
    row["perturbation"] = row["perturbation"] or "none"
    row["delay"] = int(row["delay"] or 0)
    row["severity"] = int(row["severity"] or 0)
    return row


def _plan_from_file(path: Path) -> list[dict[str, Any]]:
    from evaluators.plan import EpisodeSpec

    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            spec = EpisodeSpec.from_row(json.loads(line))
        except (json.JSONDecodeError, TypeError) as exc:
            raise RunFolderError(f"{path}:{lineno}: not an episode spec row ({exc})") from exc
        rows.append({"episode_id": spec.episode_id, **_spec_row(spec.row())})
    return rows


def _plan_from_manifest(manifest: dict[str, Any], policy_id: str | None) -> list[dict[str, Any]] | None:
    """Re-plan an ``h05 eval`` run from its config; None if that is not possible or does not match."""
    cfg = manifest.get("config") or {}
    if not {"benchmark", "suites", "trials_per_task", "executor"} <= set(cfg) or policy_id is None:
        return None
    try:
        from evaluators.eval_command import plan_from_config
        from evaluators.plan import plan_hash

        specs = plan_from_config(cfg, policy_id)
    except Exception as exc:  # noqa: BLE001 - a benchmark not installed here: plan unknown
        warnings.warn(f"cannot re-plan {cfg.get('name')!r} from its manifest ({type(exc).__name__}: {exc})")
        return None
    if plan_hash(specs) != manifest.get("plan_hash"):
        return None
    return [{"episode_id": s.episode_id, **_spec_row(s.row())} for s in specs]


def load_run(path: str | Path) -> Run:
    """Read a run folder (manifest + records) into a :class:`Run`."""
    root = Path(path)
    if not root.is_dir():
        raise RunFolderError(f"run folder {str(path)!r} does not exist")
    store = EpisodeStore(root)
    manifest = store.read_manifest()
    records = store.records()
    if manifest is None and not records:
        raise RunFolderError(f"{str(path)!r} is not a run folder: no {MANIFEST} and no records/*.jsonl")
    manifest = manifest or {}

    outcome: dict[str, dict[str, Any]] = {}
    versions: dict[str, str] = {}
    for rec in records:
        status = rec.get("status")
        if status not in ("success", "failure", "error"):
            raise RunFolderError(f"{root}: episode {rec.get('episode_id')} has unknown status {status!r}")
        outcome[rec["episode_id"]] = {
            **_spec_row(rec.get("spec", {})),
            "status": status,
            "error_kind": rec.get("error_kind"),
            "finished_at": rec.get("finished_at"),
        }
        versions.update(rec.get("versions") or {})

    policies = sorted({o["policy"] for o in outcome.values() if o["policy"]})
    plan_source = "unknown"
    plan: list[dict[str, Any]] | None = None
    if (root / PLAN_FILE).exists():
        plan, plan_source = _plan_from_file(root / PLAN_FILE), PLAN_FILE
    else:
        plan = _plan_from_manifest(manifest, policies[0] if len(policies) == 1 else None)
        plan_source = "manifest" if plan is not None else "unknown"

    rows: list[dict[str, Any]] = []
    if plan is not None:
        planned_ids = set()
        for p in plan:
            planned_ids.add(p["episode_id"])
            got = outcome.get(p["episode_id"])
            rows.append({**p, "status": "missing", "error_kind": None, "finished_at": None} if got is None
                        else {"episode_id": p["episode_id"], **got})
        extra = sorted(set(outcome) - planned_ids)
        if extra:
            warnings.warn(f"{root}: {len(extra)} records are not in the plan; they are counted too")
        rows.extend({"episode_id": e, **outcome[e]} for e in extra)
    else:
        rows = [{"episode_id": e, **o} for e, o in outcome.items()]
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    frame = frame.sort_values(["benchmark", "suite", "task", "embodiment", "delay", "perturbation",
                               "severity", "variant", "init_index", "episode_id"], kind="stable").reset_index(drop=True)
    unplanned_missing = 0
    if plan is None and isinstance(manifest.get("episodes"), int):
        unplanned_missing = max(0, manifest["episodes"] - len(outcome))
    return Run(name=root.name, path=root, manifest=manifest, episodes=frame, plan_source=plan_source,
               versions=dict(sorted(versions.items())), unplanned_missing=unplanned_missing)
