"""Wilson intervals and the success table on known values."""

import math

import pandas as pd
import pytest

from leaderboards.stats import wilson_interval
from leaderboards.success_table import success_table, to_markdown


def test_wilson_known_values():
    lo, hi = wilson_interval(45, 50)
    assert (round(lo, 3), round(hi, 3)) == (0.786, 0.957)
    lo, hi = wilson_interval(0, 2)
    assert lo == 0.0 and math.isclose(hi, 0.6576, abs_tol=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="successes=3, n=2"):
        wilson_interval(3, 2)


def test_table_counts_errors_and_missing_separately():
    recs = pd.DataFrame(
        [
            {"suite": "s", "task": "a", "status": "success"},
            {"suite": "s", "task": "a", "status": "failure"},
            {"suite": "s", "task": "a", "status": "error"},
            {"suite": "s", "task": "b", "status": "success"},
        ]
    )
    planned = [("s", "a")] * 3 + [("s", "b")] * 3
    t = success_table(recs, planned).set_index(["level", "task"])
    a = t.loc[("task", "a")]
    assert (a.successes, a.n, a.errors, a.missing) == (1, 2, 1, 0)
    b = t.loc[("task", "b")]
    assert (b.successes, b.n, b.errors, b.missing) == (1, 1, 0, 2)
    s = t.loc[("suite", "")]
    assert (s.successes, s.n, s.errors, s.missing) == (2, 3, 1, 2)
    md = to_markdown(success_table(recs, planned))
    assert "missing" in md and md == to_markdown(success_table(recs, planned))
