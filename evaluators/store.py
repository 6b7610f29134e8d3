"""Append-only episode store: one JSON record per finished episode.

Layout of a run folder::

    runs/<name>/manifest.json          config, plan hash, episode count
    runs/<name>/records/<writer>.jsonl one line per finished episode

Each writer (a process, a shard, a Slurm array task) appends to its own file,
so concurrent writers never interleave; readers merge all files and keep, per
episode id, the complete record of its latest attempt (an env error is
retried once: ``evaluators.attempts``; the first record written wins among
equal attempts). A line cut off by a crash is ignored when reading and
trimmed before the next append.
"""

from __future__ import annotations

import json
import os
import socket
import warnings
from pathlib import Path
from typing import Any, Iterator

from evaluators.attempts import is_final, latest_attempts

MANIFEST = "manifest.json"
RECORDS = "records"


class StoreMismatchError(RuntimeError):
    """The run folder holds a different plan than the one being run."""


class StoreWriteError(OSError):
    """A record could not be written (e.g. a full disk); the partial line was removed."""


class EpisodeStore:
    """Records of one run folder."""

    def __init__(self, root: str | os.PathLike[str], writer: str | None = None) -> None:
        self.root = Path(root)
        self.records_dir = self.root / RECORDS
        self.writer = writer or f"{socket.gethostname()}-{os.getpid()}"
        self._fh = None

    # -- manifest ----------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        path = self.root / MANIFEST
        return json.loads(path.read_text()) if path.exists() else None

    def bind_plan(self, plan_hash: str, manifest: dict[str, Any]) -> None:
        """Create the manifest, or check that the folder holds the same plan."""
        existing = self.read_manifest()
        if existing is not None:
            if existing.get("plan_hash") != plan_hash:
                raise StoreMismatchError(
                    f"{self.root} holds a different plan (plan hash {existing.get('plan_hash')}, this "
                    f"command's is {plan_hash}); use another name= or remove the folder"
                )
            return
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{MANIFEST}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({**manifest, "plan_hash": plan_hash}, indent=2, sort_keys=True, default=str))
        os.replace(tmp, self.root / MANIFEST)

    # -- reading -------------------------------------------------------------
    def _files(self) -> list[Path]:
        return sorted(self.records_dir.glob("*.jsonl")) if self.records_dir.exists() else []

    def iter_attempts(self) -> Iterator[dict[str, Any]]:
        """Every complete record, each attempt of an episode included, in file order."""
        for path in self._files():
            with open(path, "rb") as fh:
                for lineno, line in enumerate(fh, 1):
                    if not line.endswith(b"\n"):
                        warnings.warn(f"{path}:{lineno}: ignoring a record cut off mid-write")
                        break
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        warnings.warn(f"{path}:{lineno}: ignoring an unreadable record")
                        continue
                    if rec.get("episode_id"):
                        yield rec

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """The record of each episode: its latest attempt, in the order the ids were first written."""
        yield from latest_attempts(self.iter_attempts()).values()

    def records(self) -> list[dict[str, Any]]:
        return list(self.iter_records())

    def done_ids(self) -> set[str]:
        """Episodes whose record is final (an env error with a retry left is not done)."""
        return {r["episode_id"] for r in self.iter_records() if is_final(r)}

    def dataframe(self):
        """Records as a pandas DataFrame with the plan row flattened into columns."""
        import pandas as pd

        rows = []
        for r in self.iter_records():
            flat = {k: v for k, v in r.items() if k != "spec"}
            flat.update(r.get("spec", {}))
            rows.append(flat)
        return pd.DataFrame(rows)

    # -- writing -------------------------------------------------------------
    def _open(self):
        if self._fh is None:
            self.records_dir.mkdir(parents=True, exist_ok=True)
            path = self.records_dir / f"{self.writer}.jsonl"
            self._trim_partial_tail(path)
            self._fh = open(path, "ab", buffering=0)  # unbuffered: a failed write leaves nothing pending
        return self._fh

    @staticmethod
    def _trim_partial_tail(path: Path) -> None:
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            fh.truncate(data.rfind(b"\n") + 1)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record durably (flush + fsync) as a single line."""
        if "episode_id" not in record:
            raise ValueError("a record needs an episode_id")
        line = (json.dumps(record, sort_keys=True, default=_json_default) + "\n").encode()
        fh = self._open()
        start = fh.seek(0, os.SEEK_END)
        try:
            view = memoryview(line)
            while view:
                view = view[fh.write(view):]
            os.fsync(fh.fileno())
        except OSError as exc:
            episode_id = record["episode_id"]
            try:  # never leave half a record behind for the next append to glue onto
                os.ftruncate(fh.fileno(), start)
            except OSError:
                pass
            raise StoreWriteError(
                exc.errno, f"could not write the record of episode {episode_id} to {fh.name}: "
                f"{exc.strerror or exc}; records written before it are kept, fix the cause and rerun to resume",
            ) from exc

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "EpisodeStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
