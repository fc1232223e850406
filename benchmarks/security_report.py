"""Security and reliability summary (issue 7, "Report").

Run: ``python benchmarks/security_report.py [--quick] [--full]``

Replays the security suite's data without pytest and prints one block per
proof, each a line a reader can check against the tests:

* attacks refused N/N: the attack corpus through every face of the verifier
  (static and fetched keys, ``verify`` and ``verify_async``, text and bytes),
  then through each adapter (ASGI middleware, FastAPI dependency, WSGI
  middleware), by header and by query parameter, with no handler reached;
  then the DPoP attack corpus (hostile proofs, keys, claims, nonces,
  bindings, schemes and replays) through ``verify``, ``verify_async`` and
  the ASGI and WSGI middlewares;
* vectors passed N/N per file: from the Wycheproof suite's ``summary()``;
* fuzz inputs run: the atheris harnesses' mutation loops (tokens, then DPoP
  proofs; no atheris needed), then hypothesis-generated hostile requests
  through each adapter;
* fault-matrix cells passed: every key-server fault, cold and cached, both shells;
* rotation wrong answers and key fetches: two key rotations under load through
  uvicorn and Werkzeug's threaded server (``tests/security/test_rotation.py``);
* memory growth: traced bytes after floods of distinct tokens;
* hardening: one line per finding of the security review (secrets never
  confused with public keys, scope grammar, fetch deadlines against a
  header-dripping server, URL provenance, client_ids, terminal escapes in
  the command line, duplicate claim names, DNS rebinding of the development
  server, python-jose's unused backends).

Bounded in time: one to two minutes by default (each rotation run stops
itself after half a minute at most); ``--quick`` skips the fault
matrix's async half and shrinks the floods and the adapter fuzzing,
``--full`` runs the 10^5-token floods. Sections whose suites do not exist
yet print "pending".
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from jwt_guard import JWTGuardError, Verifier  # noqa: E402
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport  # noqa: E402
from tests.security.attacks import CATEGORIES, Attack, AttackKit, by_category, corpus  # noqa: E402
from tests.security.faults import cells, run_cell  # noqa: E402
from tests.security.memory import GROWTH_LIMIT, describe, measure  # noqa: E402

#: Hooks other suites provide: section -> (module, function) pairs. Each
#: function returns report lines (strings), (name, passed, total) tuples, or a
#: {name: (passed, total)} mapping. A missing module or function is "pending".
HOOKS: dict[str, tuple[tuple[str, str], ...]] = {
    "vectors": (("tests.core.test_wycheproof", "wycheproof_summary"),),
    "adapters": (("tests.security.test_adapters", "adapter_summary"),),
    "dpop attacks": (("tests.security.test_dpop_attacks", "dpop_summary"),),
    "adapter fuzz": (("tests.security.test_adapter_fuzz", "fuzz_summary"),),
    "rotation": (("tests.security.test_rotation", "rotation_summary"),),
    "hardening": (("tests.security.hardening", "hardening_summary"),),
}


def _section(title: str) -> None:
    print(f"\n== {title}")


def _faces(kit: AttackKit) -> dict[str, Callable[[str | bytes], Any]]:
    """Every way a token reaches the verifier, each with a fresh verifier."""
    transport = mock_transport(KeyServer(kit.issuer))

    def remote() -> Verifier:
        return Verifier(
            issuer=kit.issuer.issuer,
            audience=kit.issuer.audience,
            clock=kit.issuer.clock,
            transport=transport,
            async_transport=transport,
        )

    async def via_async(verifier: Verifier, token: str | bytes) -> Any:
        try:
            return await verifier.verify_async(token)
        finally:
            await verifier.aclose()

    return {
        "static verify": lambda token: kit.verifier().verify(token),
        "static verify_async": lambda token: asyncio.run(via_async(kit.verifier(), token)),
        "static verify(bytes)": lambda token: kit.verifier().verify(
            token.encode("utf-8", "surrogatepass") if isinstance(token, str) else token
        ),
        "remote verify": lambda token: remote().verify(token),
        "remote verify_async": lambda token: asyncio.run(via_async(remote(), token)),
    }


def _refused(attack: Attack, face: Callable[[str | bytes], Any], token: str) -> str | None:
    """None when refused exactly as expected, else what happened."""
    try:
        face(token)
    except JWTGuardError as error:
        if type(error) is attack.expected:
            return None
        return f"{type(error).__name__} instead of {attack.expected.__name__}"
    except Exception as error:  # the report must name any escape, not die of it
        return f"escaped {type(error).__name__}: {error}"
    return "accepted"


def report_attacks() -> bool:
    _section("attack corpus")
    clock = FakeClock(1_800_000_000)
    issuer = LocalIssuer("https://issuer.example.test/", audience="https://api.example.test", clock=clock)
    kit = AttackKit(issuer)
    faces = _faces(kit)
    failures: list[str] = []
    refused = 0
    for attack in corpus():
        token = attack.token(kit)
        problems = [f"{name}: {why}" for name, face in faces.items() if (why := _refused(attack, face, token))]
        if problems:
            failures.append(f"  {attack.name}: {'; '.join(problems)}")
        else:
            refused += 1
    total = len(corpus())
    groups = by_category()
    print(f"attacks refused by the verifier: {refused}/{total} ({len(CATEGORIES)} categories, {len(faces)} faces each)")
    print("  " + ", ".join(f"{category} {len(groups[category])}" for category in CATEGORIES))
    for line in failures:
        print(line)
    through_adapters = _hook("adapters")
    dpop = _hook("dpop attacks")
    return not failures and through_adapters is not False and dpop is not False


def _hook(section: str, *args: Any) -> bool | None:
    """Print a suite's summary lines; None when that suite is not there yet."""
    ok = True
    printed = False
    for module_name, function_name in HOOKS[section]:
        if importlib.util.find_spec(module_name.rsplit(".", 1)[0]) is None:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        function = getattr(module, function_name, None)
        if function is None:
            continue
        for line in _lines(function(*args)):
            print(line)
            printed = True
            ok = ok and "FAIL" not in line
    if not printed:
        names = ", ".join(f"{module}.{function}()" for module, function in HOOKS[section])
        print(f"pending: provided by {names}")
        return None
    return ok


def _lines(result: Any) -> Iterable[str]:
    if isinstance(result, dict):
        result = [(name, *counts) for name, counts in result.items()]
    for item in result:
        if isinstance(item, str):
            yield item
        else:
            name, passed, total = item
            yield f"{name}: {passed}/{total}{'' if passed == total else ' FAIL'}"


def report_vectors() -> bool | None:
    _section("standard vectors (Wycheproof)")
    return _hook("vectors")


def report_fuzz(iterations: int, adapter_examples: int) -> bool:
    _section("fuzzing")
    spec = importlib.util.spec_from_file_location("verify_fuzz", ROOT / "fuzz" / "verify_fuzz.py")
    assert spec is not None
    assert spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    started = time.monotonic()
    seed = int(time.time())
    try:
        count = harness.selftest(iterations, seed=seed)
    except Exception as error:
        print(f"fuzz (seed {seed}): an input escaped the contract: {type(error).__name__}: {error}")
        return False
    finally:
        harness.close()
    seconds = time.monotonic() - started
    print(f"fuzz inputs run: {count} (seeds + mutations, seed {seed}), 0 escaped exceptions, {seconds:.1f} s")
    if not _dpop_fuzz(max(1, iterations // 4), seed):
        return False
    print("  longer, coverage-guided runs: see fuzz/README.md")
    return _hook("adapter fuzz", adapter_examples) is not False


def _dpop_fuzz(iterations: int, seed: int) -> bool:
    spec = importlib.util.spec_from_file_location("dpop_fuzz", ROOT / "fuzz" / "dpop_fuzz.py")
    assert spec is not None
    assert spec.loader is not None
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    started = time.monotonic()
    try:
        count = harness.selftest(iterations, seed=seed)
    except Exception as error:
        print(f"DPoP proof fuzz (seed {seed}): an input escaped the contract: {type(error).__name__}: {error}")
        return False
    finally:
        harness.close()
    seconds = time.monotonic() - started
    print(
        f"DPoP proof fuzz inputs run: {count} (seeds + mutations, seed {seed}), 0 escaped exceptions, {seconds:.1f} s"
    )
    return True


def report_matrix(quick: bool) -> bool:
    _section("key-server fault matrix (real server on 127.0.0.1)")
    chosen = [cell for cell in cells() if not (quick and cell.shell == "async")]
    started = time.monotonic()
    failed = []
    slowest = 0.0
    for cell in chosen:
        result = run_cell(cell)
        slowest = max(slowest, result.elapsed)
        if not result.passed:
            failed.append(f"  {cell.id}: {result.problems}")
    passed = len(chosen) - len(failed)
    print(
        f"fault-matrix cells passed: {passed}/{len(chosen)} "
        f"(slowest request {slowest:.2f} s, {time.monotonic() - started:.0f} s in all)"
    )
    for line in failed:
        print(line)
    return not failed


def report_rotation() -> bool | None:
    _section("rotation under load")
    return _hook("rotation")


def report_hardening() -> bool | None:
    _section("security-review findings (hardening)")
    return _hook("hardening")


def report_memory(quick: bool, full: bool) -> bool:
    _section("memory (tracemalloc)")
    base = 100_000 if full else (2_000 if quick else 10_000)
    floods = [("garbage", base), ("valid-hs256", base), ("unknown-kids", 500 if not full else 5_000)]
    if full:
        floods.append(("valid-eddsa", 20_000))
    ok = True
    for workload, count in floods:
        growth = measure(workload, count)
        print(describe(growth))
        ok = ok and growth.within_limits
    print(f"  limit: {GROWTH_LIMIT // 1024} KiB of growth after warm-up, whatever the count")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sync half of the fault matrix, small floods")
    parser.add_argument("--full", action="store_true", help="10^5-token memory floods")
    parser.add_argument("--fuzz", type=int, default=20_000, help="fuzz inputs (default 20000)")
    parser.add_argument(
        "--adapter-fuzz", type=int, default=None, help="hostile requests per adapter (default 500, --quick 100)"
    )
    options = parser.parse_args()
    started = time.monotonic()
    results: dict[str, bool | None] = {
        "attacks": report_attacks(),
        "vectors": report_vectors(),
        "fuzz": report_fuzz(options.fuzz, options.adapter_fuzz or (100 if options.quick else 500)),
        "fault matrix": report_matrix(options.quick),
        "rotation": report_rotation(),
        "memory": report_memory(options.quick, options.full),
        "hardening": report_hardening(),
    }
    _section("summary")
    for name, ok in results.items():
        print(f"{name}: {'pending' if ok is None else 'ok' if ok else 'FAILED'}")
    print(f"({time.monotonic() - started:.0f} s)")
    return 1 if False in results.values() else 0


if __name__ == "__main__":
    sys.exit(main())
