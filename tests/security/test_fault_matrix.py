"""The key-server fault matrix against a real HTTP server on 127.0.0.1.

One test per cell (fault x state x shell, see :mod:`tests.security.faults`):
on a cold start every fault is a 503 (``KeySetUnavailable``) within bounded
time and the backoff keeps further requests off the server; with a good set
cached, tokens of cached keys keep passing (no false 401) while the fault is
met by an unknown-``kid`` refetch or a background refresh; once the stale
window is over, a fault is a 503 again, never a 401.
"""

from __future__ import annotations

import pytest

from jwt_guard.testing import FAULTS
from tests.security.faults import STATES, cells, faults, run_cell

CELLS = [pytest.param(cell, id=cell.id) for cell in cells()]

REQUIRED_FAULTS = {
    "http-500",
    "http-404",
    "invalid-json",
    "json-not-a-jwks",
    "body-5mib-declared",
    "body-5mib-streamed",
    "slow-drip",
    "header-drip",
    "hang",
    "connection-refused",
    "redirect-loop",
    "redirect-to-http",
    "discovery-issuer-mismatch",
}


def test_matrix_covers_every_required_fault_in_every_state():
    names = {fault.name for fault in faults()}
    assert names >= REQUIRED_FAULTS, REQUIRED_FAULTS - names
    for fault in faults():
        assert fault.kind in FAULTS or fault.kind == "stopped"
    combos = {(cell.fault.name, cell.state, cell.shell) for cell in cells()}
    assert len(combos) == len(cells()) == len(faults()) * len(STATES) * 2


@pytest.mark.parametrize("cell", CELLS)
def test_cell(cell):
    result = run_cell(cell)
    assert result.problems == [], f"{cell.id}: {result.problems} (outcome {result.outcome}, events {result.events})"
