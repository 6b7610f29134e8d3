"""A progress line for long evaluations: done/total, successes, errors, rate, ETA."""

from __future__ import annotations

import sys
import time
from typing import Any


class Progress:
    """Prints to stderr; a tqdm bar on a terminal, one line per episode otherwise."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, label: str = "") -> None:
        self.total, self.done, self.enabled, self.label = total, initial, enabled, label
        self.successes = self.errors = self.new = 0
        self.t0 = time.perf_counter()
        self._bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=label or "episodes", file=sys.stderr, dynamic_ncols=True)
        elif enabled and initial:
            print(f"[h05] resuming: {initial}/{total} episodes already recorded", file=sys.stderr, flush=True)

    def update(self, record: dict[str, Any]) -> None:
        self.done += 1
        self.new += 1
        self.successes += bool(record.get("success"))
        self.errors += record.get("status") == "error"
        if not self.enabled:
            return
        summary = f"ok {self.successes}/{self.new}" + (f", errors {self.errors}" if self.errors else "")
        if self._bar is not None:
            self._bar.set_postfix_str(summary)
            self._bar.update(1)
            return
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.new * (self.total - self.done)
        spec = record.get("spec", {})
        print(
            f"[h05] {self.done}/{self.total} {spec.get('suite')}/{spec.get('task')} trial {spec.get('trial')}: "
            f"{record.get('status')} ({record.get('steps')} steps) | {summary} | eta {eta:.0f}s",
            file=sys.stderr,
            flush=True,
        )

    def note(self, message: str) -> None:
        """A one-off line (e.g. a retry) that does not advance the count."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(f"[h05] {message}", file=sys.stderr)
        else:
            print(f"[h05] {message}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
