"""Interval and test functions against known values."""

from __future__ import annotations

import math

import pytest

from leaderboards.stats import binomial_two_sided_half, holm_adjust, mcnemar_exact, wilson_interval


def test_wilson_45_of_50_matches_the_published_interval():
    lo, hi = wilson_interval(45, 50)
    assert round(lo, 3) == 0.786 and round(hi, 3) == 0.957


@pytest.mark.parametrize("k,n,lo,hi", [(0, 10, 0.0, 0.27753), (10, 10, 0.72247, 1.0), (5, 10, 0.23659, 0.76341)])
def test_wilson_edges_and_symmetry(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-5)
    mirror = wilson_interval(n - k, n)
    assert mirror == pytest.approx((1 - got[1], 1 - got[0]))


def test_wilson_rejects_bad_counts_with_the_values():
    with pytest.raises(ValueError, match="successes=6, n=5"):
        wilson_interval(6, 5)


def test_exact_mcnemar_known_values():
    # 1 vs 9 discordant pairs: 2 * (C(10,0) + C(10,1)) / 2^10
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    # 7 of 20 under p = 1/2: scipy.stats.binomtest(7, 20).pvalue
    assert binomial_two_sided_half(7, 20) == pytest.approx(0.26317596435546875, abs=1e-15)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    with pytest.raises(ValueError, match="only_a=-1"):
        mcnemar_exact(-1, 3)


def test_holm_adjustment_known_values():
    assert holm_adjust([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm_adjust([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm_adjust([]) == []
    with pytest.raises(ValueError, match="1.5"):
        holm_adjust([1.5])
    assert not math.isnan(holm_adjust([0.0])[0])
