"""``jwt-guard revoke`` and ``jwt-guard revocations`` against a real redis-server."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
import redis

from jwt_guard import TokenRevoked
from jwt_guard.stores import RedisStore
from jwt_guard.testing import LocalIssuer
from tests.cli.conftest import run_process
from tests.stores.conftest import eventually
from tests.support.services import RedisServer, free_port

ISS = "https://idp.example.test/"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def prefix() -> str:
    return f"cli{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def store(redis_server: RedisServer, prefix: str) -> Iterator[RedisStore]:
    """What an API process sees: a RedisStore with its mirror, on the same prefix."""
    api = RedisStore.from_url(redis_server.url, prefix=prefix)
    assert api.wait_ready(30)
    yield api
    api.close()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "JWT_GUARD_ISSUER",
        "JWT_GUARD_LEEWAY",
        "JWT_GUARD_REVOCATION_REDIS_URL",
        "JWT_GUARD_REVOCATION_PREFIX",
        "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME",
    ):
        monkeypatch.delenv(name, raising=False)


def test_revoke_a_jti_reaches_the_api_and_survives_in_redis(run, redis_server, prefix, store):
    exp = int(time.time()) + 600
    result = run(
        "revoke", "--redis", redis_server.url, "--prefix", prefix, "--issuer", ISS, "--jti", "j-1", "--exp", str(exp)
    )
    assert result.code == 0, result.err
    assert result.out.startswith('revoked: token    jti "j-1": refused until its exp')
    assert result.err == ""
    eventually(lambda: store.check(ISS, "j-1", None, None, None) == "token", what="the API's mirror learning it")
    # A process that starts later reads it from Redis.
    late = RedisStore.from_url(redis_server.url, prefix=prefix)
    try:
        assert late.wait_ready(30)
        assert late.check(ISS, "j-1", None, None, None) == "token"
    finally:
        late.close()


@pytest.mark.parametrize("flag", ["--sub", "--client"])
def test_revoke_a_subject_or_client_refuses_tokens_issued_until_now(run, redis_server, prefix, store, flag):
    issuer = LocalIssuer(ISS)
    verifier = issuer.verifier(revocation=store)
    earlier = issuer.token(sub="alice", client_id="app", iat=int(time.time()) - 5)
    assert verifier.verify(earlier)
    value = "alice" if flag == "--sub" else "app"
    result = run("revoke", "--redis", redis_server.url, "--prefix", prefix, "--issuer", ISS, flag, value, "--json")
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["revoked"] is True
    assert (document["kind"], document["issuer"], document["value"]) == (flag[2:].replace("sub", "subject"), ISS, value)
    assert abs(document["at"] - time.time()) < 60
    assert datetime.fromisoformat(document["at_iso"]).timestamp() == pytest.approx(document["at"])

    def refused() -> bool:
        try:
            verifier.verify(earlier)
        except TokenRevoked:
            return True
        return False

    eventually(refused, what="the API refusing the earlier token")
    assert verifier.verify(issuer.token(sub="alice", client_id="app", iat=int(time.time()) + 2))


@pytest.mark.parametrize(
    "before",
    [
        pytest.param("1767225600", id="epoch"),
        pytest.param("2026-01-01T00:00:00Z", id="iso-z"),
        pytest.param("2026-01-01T01:00:00+01:00", id="iso-offset"),
        pytest.param("1767225600.25", id="fraction"),
    ],
)
def test_times_are_epoch_seconds_or_iso_8601(run, redis_server, prefix, before):
    result = run(
        "revoke", "--redis", redis_server.url, "--prefix", prefix, "--issuer", ISS, "--client", "app",
        "--before", before, "--max-token-lifetime", str(10 * 365 * 86400), "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert json.loads(result.out)["at"] == pytest.approx(1767225600 + (0.25 if "." in before else 0))


def test_revocations_lists_active_records_by_issuer(run, redis_server, prefix):
    other = "https://other.example.test/"
    now = time.time()
    writer = RedisStore.from_url(redis_server.url, prefix=prefix)
    try:
        writer.revoke_token("j-1", issuer=ISS, expires_at=now + 600)
        writer.revoke_subject("alice\x1b[31m", issuer=ISS)
        writer.revoke_client("app", issuer=other)
    finally:
        writer.close()
    base = ["revocations", "--redis", redis_server.url, "--prefix", prefix]

    result = run(*base)
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f'"{ISS}": 2 active records'
    assert lines[1].startswith('  token    jti "j-1": refused until its exp')
    assert lines[2].startswith('  subject  "alice\\u001b[31m": tokens issued at or before')  # escaped, not sent raw
    assert lines[3] == f'"{other}": 1 active record'
    assert lines[4].startswith('  client   "app": tokens issued at or before')
    assert "\x1b" not in result.out

    listed = json.loads(run(*base, "--issuer", other, "--json").out)
    assert [(item["kind"], item["value"]) for item in listed] == [("client", "app")]
    assert run(*base, "--issuer", "https://nobody.example.test/").out == (
        'no active revocations for "https://nobody.example.test/"\n'
    )


def test_revocations_reports_garbage_in_redis_and_lists_the_rest(run, redis_server, prefix):
    writer = RedisStore.from_url(redis_server.url, prefix=prefix)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        writer.revoke_subject("alice", issuer=ISS)
        raw.hset(f"{prefix}rv:bad-time", mapping={"k": "subject", "iss": ISS, "id": "bob", "t": "soon"})
        raw.set(f"{prefix}rv:string", "x")
    finally:
        raw.close()
        writer.close()
    result = run("revocations", "--redis", redis_server.url, "--prefix", prefix, "--json")
    assert result.code == 0
    assert [item["value"] for item in json.loads(result.out)] == ["alice"]
    assert result.err == (
        "jwt-guard revocations: warning: skipped malformed records in Redis (1 bad_time, 1 wrong_type)\n"
    )


def test_environment_defaults(run, redis_server, prefix, monkeypatch):
    """The API's variables configure the command: Redis, prefix, issuer, leeway, lifetime."""
    monkeypatch.setenv("JWT_GUARD_REVOCATION_REDIS_URL", redis_server.url)
    monkeypatch.setenv("JWT_GUARD_REVOCATION_PREFIX", prefix)
    monkeypatch.setenv("JWT_GUARD_ISSUER", ISS)
    monkeypatch.setenv("JWT_GUARD_LEEWAY", "120")
    monkeypatch.setenv("JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME", "3600")
    result = run("revoke", "--sub", "alice", "--before", str(time.time() + 100), "--json")  # within 120 s of skew
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document["issuer"] == ISS
    assert document["expires_at"] == pytest.approx(document["at"] + 3600 + 120)
    assert [item["value"] for item in json.loads(run("revocations", "--json").out)] == ["alice"]

    # An --issuer that the API does not accept is written, with a warning.
    result = run("revoke", "--sub", "bob", "--issuer", ISS.rstrip("/"))
    assert result.code == 0
    assert "warning: --issuer" in result.err and "exactly this iss" in result.err

    monkeypatch.setenv("JWT_GUARD_ISSUER", f"{ISS} https://other.example.test/")
    result = run("revoke", "--sub", "alice")
    assert result.code == 2 and "names several issuers; choose one with --issuer" in result.err


def test_an_expired_token_needs_no_record(run, redis_server, prefix):
    base = ["revoke", "--redis", redis_server.url, "--prefix", prefix, "--issuer", ISS]
    result = run(*base, "--jti", "old", "--exp", str(int(time.time()) - 3600))
    assert result.code == 0
    assert result.out.startswith("nothing to revoke: the token expired at")
    result = run(*base, "--sub", "alice", "--before", "2000-01-01T00:00:00Z")
    assert result.out.startswith("nothing to revoke: tokens issued at or before 2000-01-01 00:00:00 UTC")
    assert json.loads(run("revocations", "--redis", redis_server.url, "--prefix", prefix, "--json").out) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--issuer", ISS, "--sub", "a"],
            "--redis URL is required (or set JWT_GUARD_REVOCATION_REDIS_URL)",
            id="no-redis",
        ),
        pytest.param(["--redis", "R", "--sub", "a"], "--issuer is required (or set JWT_GUARD_ISSUER)", id="no-issuer"),
        pytest.param(["--redis", "R", "--issuer", ISS], "one of the arguments --jti --sub --client", id="nothing"),
        pytest.param(["--redis", "R", "--issuer", ISS, "--jti", "j", "--sub", "a"], "not allowed with", id="two"),
        pytest.param(["--redis", "R", "--issuer", ISS, "--jti", "j"], "--jti needs --exp", id="jti-without-exp"),
        pytest.param(
            ["--redis", "R", "--issuer", ISS, "--jti", "j", "--exp", "1", "--before", "1"],
            "--before applies to --sub and --client",
            id="jti-with-before",
        ),
        pytest.param(["--redis", "R", "--issuer", ISS, "--sub", "a", "--exp", "1"], "--exp applies to --jti", id="exp"),
        pytest.param(["--redis", "R", "--issuer", ISS, "--sub", "a", "--before", "soon"], "not an instant", id="word"),
        pytest.param(
            ["--redis", "R", "--issuer", ISS, "--sub", "a", "--before", "-5"], "not an instant", id="negative"
        ),
        pytest.param(["--redis", "R", "--issuer", ISS, "--sub", "a", "--before", "nan"], "not an instant", id="nan"),
        pytest.param(
            ["--redis", "R", "--issuer", ISS, "--sub", "a", "--before", "2026-01-01T00:00:00"],
            "has no UTC offset",
            id="naive",
        ),
        pytest.param(
            ["--redis", "R", "--issuer", ISS, "--sub", "a", "--before", str(time.time() + 3600)],
            "before lies more than clock_skew (60 s) in the future",
            id="future",
        ),
        pytest.param(["--redis", "R", "--issuer", ISS, "--sub", ""], "sub must not be empty", id="empty-sub"),
        pytest.param(["--redis", "R", "--issuer", ISS, "--sub", "a" * 1025], "longer than 1024", id="huge-sub"),
        pytest.param(["--redis", "http://x", "--issuer", ISS, "--sub", "a"], "redis://", id="not-redis"),
        pytest.param(
            ["--redis", "R", "--issuer", ISS, "--sub", "a", "--max-token-lifetime", "0"],
            "max_token_lifetime must be a positive",
            id="zero-lifetime",
        ),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(run, redis_server, prefix, argv, message):
    argv = [redis_server.url if item == "R" else item for item in argv]
    result = run("revoke", "--prefix", prefix, *argv)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""
    assert "Traceback" not in result.err
    assert json.loads(run("revocations", "--redis", redis_server.url, "--prefix", prefix, "--json").out) == []


@pytest.mark.parametrize("command", [["revoke", "--issuer", ISS, "--sub", "a"], ["revocations"]])
def test_an_unreachable_redis_exits_3_and_hides_credentials(run, command):
    url = f"redis://user:hunter2@127.0.0.1:{free_port()}/0"
    result = run(*command, "--redis", url)
    assert result.code == 3
    assert (
        result.err
        == f"jwt-guard {command[0]}: error: cannot reach Redis at redis://127.0.0.1:{url.rsplit(':', 1)[1]}\n"
    )
    assert "hunter2" not in result.err


def test_a_restarted_persistent_redis_keeps_what_revoke_acknowledged(run, tmp_path: Path):
    """A record acknowledged by the command survives a Redis restart (appendonly, fsync always)."""
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        result = run("revoke", "--redis", server.url, "--issuer", ISS, "--sub", "alice")
        assert result.code == 0, result.err
        server.kill()
        server.start()
        listed = json.loads(run("revocations", "--redis", server.url, "--json").out)
        assert [(item["kind"], item["value"]) for item in listed] == [("subject", "alice")]
    finally:
        server.stop()


def test_exit_codes_in_a_subprocess(redis_server, prefix):
    exp = str(int(datetime.now(timezone.utc).timestamp()) + 600)
    ok = run_process("console-script", "revoke", "--redis", redis_server.url, "--prefix", prefix, "--issuer", ISS,
                     "--jti", "j", "--exp", exp)  # fmt: skip
    assert (ok.code, ok.err) == (0, "")
    down = run_process("python-m", "revocations", "--redis", f"redis://127.0.0.1:{free_port()}/0")
    assert down.code == 3 and "Traceback" not in down.err
