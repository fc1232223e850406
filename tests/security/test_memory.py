"""Floods of distinct tokens leave traced memory flat (see :mod:`tests.security.memory`).

The 10^5-token runs are marked slow (``tox -e slow``); the default run keeps
smaller floods of the same workloads. Reproduce a figure with::

    python -m pytest -m slow tests/security/test_memory.py -rA
"""

from __future__ import annotations

import pytest

from tests.security.memory import GROWTH_LIMIT, describe, measure

FLOODS = [
    pytest.param("garbage", 10_000, id="garbage-1e4"),
    pytest.param("valid-hs256", 10_000, id="valid-hs256-1e4"),
    pytest.param("unknown-kids", 300, id="unknown-kids-300"),
    pytest.param("garbage", 100_000, id="garbage-1e5", marks=pytest.mark.slow),
    pytest.param("valid-hs256", 100_000, id="valid-hs256-1e5", marks=pytest.mark.slow),
    pytest.param("valid-eddsa", 20_000, id="valid-eddsa-2e4", marks=pytest.mark.slow),
    pytest.param("unknown-kids", 5_000, id="unknown-kids-5e3", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("workload", "count"), FLOODS)
def test_flood_leaves_memory_flat(workload, count):
    growth = measure(workload, count)
    print(describe(growth))
    if workload.startswith("valid"):
        assert growth.accepted == count
    else:
        assert growth.refused == count
    for name, (size, limit) in growth.bounded_sizes.items():
        assert size <= limit, f"{name}: {size} > {limit}"
    assert growth.growth < GROWTH_LIMIT, describe(growth)


def test_the_measure_sees_growth():
    """The instrument itself works: an unbounded cache (size >= count) shows
    up as growth far beyond the limit."""
    growth = measure("valid-hs256", 3_000, warmup=10, cache_size=20_000)
    assert growth.growth > GROWTH_LIMIT, describe(growth)
