"""Percentiles in SQL: the counted variant for repeated values gives the interpolated results of
the row-ranking one (PERCENTILE_CONT semantics) on both databases."""

from __future__ import annotations

import statistics

import pytest
from sqlalchemy import Integer, literal, select, union_all
from vitalsign.metrics import _sql

GROUPS = {"a": [3, 1, 4, 1, 5, 9, 2, 6], "b": [7], "c": [2, 2, 2, 8, 8, 10, 10, 10, 10, 0]}


def values():
    rows = [
        select(literal(g).label("g"), literal(v, Integer).label("v")) for g, vs in GROUPS.items() for v in vs
    ]
    return union_all(*rows).subquery("vals")


def cont(vs, pct):
    """PERCENTILE_CONT by hand."""
    s = sorted(vs)
    pos = (len(s) - 1) * pct / 100
    lo = int(pos)
    return s[lo] + (s[min(lo + 1, len(s) - 1)] - s[lo]) * (pos - lo)


def test_counted_percentiles_match_ranked_ones(store):
    fractions = [("median", 50), ("p90", 90), ("p25", 25)]
    with store.connect() as conn:
        ranked = {r.g: r for r in conn.execute(_sql.percentile_rows(values(), "v", ["g"], fractions))}
        counted = {
            r.g: r for r in conn.execute(_sql.percentile_rows_repeated(values(), "v", ["g"], fractions))
        }
    for g, vs in GROUPS.items():
        assert int(counted[g].n) == len(vs)
        assert float(counted[g].median) == statistics.median(vs)
        for label, pct in fractions:
            got, expected = float(counted[g]._mapping[label]), float(ranked[g]._mapping[label])
            assert got == pytest.approx(expected) == pytest.approx(cont(vs, pct)), (g, label)
