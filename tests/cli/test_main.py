"""The ``jwt-guard`` entry points: help, version, exit codes, ``python -m``,
the console script, and the ``demo`` command's hand-off."""

from __future__ import annotations

import subprocess
import sys

import pytest

import jwt_guard
import jwt_guard.cli._demo
import jwt_guard.cli._inspect
from jwt_guard.cli import build_parser
from tests.cli.conftest import ENTRY_POINTS, TIMEOUT, run_process

COMMANDS = ["inspect", "verify", "check", "dev-issuer", "token", "demo", "revoke", "revocations"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_complete_help_with_examples(run, command):
    result = run(command, "--help")
    assert result.code == 0
    assert result.out.startswith(f"usage: jwt-guard {command}")
    assert "examples:\n" in result.out
    assert "exit codes:\n" in result.out
    assert f"  jwt-guard {command}" in result.out


def test_every_option_has_help_text():
    parser = build_parser()
    subparsers = next(action for action in parser._actions if action.dest == "command")
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"


def test_main_help_lists_commands_and_exit_codes(run):
    result = run("--help")
    assert result.code == 0
    for command in COMMANDS:
        assert f"    {command}" in result.out
    assert "exit codes:" in result.out


def test_version(run):
    result = run("--version")
    assert result.code == 0
    assert result.out == f"jwt-guard {jwt_guard.__version__}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "usage: jwt-guard", id="no-command"),
        pytest.param(["frobnicate"], "invalid choice: 'frobnicate'", id="unknown-command"),
        pytest.param(["inspect", "x", "--colour"], "unrecognized arguments: --colour", id="unknown-option"),
    ],
)
def test_usage_errors_exit_2(run, argv, message):
    result = run(*argv)
    assert result.code == 2
    assert message in result.err


@pytest.mark.one_interpreter
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@pytest.mark.parametrize(
    ("argv", "stdin", "code", "stream", "expected"),
    [
        pytest.param(["--version"], "", 0, "out", "jwt-guard ", id="version"),
        pytest.param(["verify", "--help"], "", 0, "out", "usage: jwt-guard verify", id="help"),
        pytest.param(["inspect", "-"], "e30.e30.c2ln", 0, "out", "UNVERIFIED", id="inspect-ok"),
        pytest.param(["inspect", "-"], "garbage", 2, "err", "jwt-guard inspect: error: ", id="inspect-malformed"),
        pytest.param(
            [
                "verify",
                "x.y.z",
                "--issuer",
                "https://i.example.test/",
                "--audience",
                "a",
                "--algorithm",
                "HS256",
                "--key",
                "/nonexistent",
            ],
            "",
            2,
            "err",
            "--key: cannot read",
            id="verify-usage",
        ),
        pytest.param(["token", "--issuer", "https://idp.example.test/"], "", 2, "err", "local development", id="token"),
        pytest.param([], "", 2, "err", "usage: jwt-guard", id="no-command"),
    ],
)
def test_entry_points_in_a_subprocess(entry, argv, stdin, code, stream, expected):
    result = run_process(entry, *argv, stdin=stdin)
    assert result.code == code, result.err
    assert expected in (result.out if stream == "out" else result.err)
    assert "Traceback" not in result.err


def test_python_m_jwt_guard_cli_is_the_same_command():
    completed = subprocess.run(
        [sys.executable, "-m", "jwt_guard.cli", "token", "--issuer", "https://idp.example.test/"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr.startswith("jwt-guard token: error: ")


def test_verify_exit_1_in_a_subprocess(tmp_path):
    from jwt_guard.testing import LocalIssuer

    issuer = LocalIssuer("https://idp.example.test/", audience="api", algorithm="EdDSA")
    path = tmp_path / "key.pem"
    path.write_text(issuer.signing_key.public_pem())
    args = ["verify", "-", "--issuer", "https://idp.example.test/", "--audience", "api", "--key", str(path)]
    assert run_process("python-m", *args, stdin=issuer.token()).code == 0
    expired = run_process("console-script", *args, stdin=issuer.token(expires_in=-3600))
    assert expired.code == 1
    assert "ExpiredToken" in expired.err


def test_broken_pipe_is_quiet():
    """``jwt-guard ... | head -1``: no BrokenPipeError traceback."""
    producer = subprocess.Popen(
        [*ENTRY_POINTS["python-m"](), "verify", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert producer.stdout is not None
    producer.stdout.readline()
    producer.stdout.close()
    _, err = producer.communicate(timeout=TIMEOUT)
    assert b"Traceback" not in err


def test_cli_imports_no_web_framework():
    code = (
        "import sys, jwt_guard.cli, jwt_guard.__main__\n"
        "bad = [m for m in ('starlette', 'werkzeug', 'flask', 'fastapi', 'django', 'uvicorn') if m in sys.modules]\n"
        "sys.exit(f'imported: {bad}' if bad else 0)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert completed.returncode == 0, completed.stderr


def test_demo_hands_over_to_run_demo(run, monkeypatch):
    """``demo`` picks a free port by default (port 0), or the one given; a
    summary line every 10 seconds by default."""
    calls = []

    def fake_run_demo(*, host: str, port: int, summary_every: float) -> int:
        calls.append((host, port, summary_every))
        return 0

    monkeypatch.setattr(jwt_guard.cli._demo, "run_demo", fake_run_demo)
    assert run("demo").code == 0
    assert run("demo", "--port", "8123", "--summary", "2.5").code == 0
    assert calls == [("127.0.0.1", 0, 10.0), ("127.0.0.1", 8123, 2.5)]


@pytest.mark.parametrize(
    ("raised", "code", "message"),
    [
        pytest.param(KeyboardInterrupt(), 0, "", id="ctrl-c"),
        pytest.param(ModuleNotFoundError("no uvicorn", name="uvicorn"), 2, "the demo needs uvicorn", id="missing"),
    ],
)
def test_demo_failures(run, monkeypatch, raised, code, message):
    def fake_run_demo(*, host: str, port: int, summary_every: float) -> int:
        raise raised

    monkeypatch.setattr(jwt_guard.cli._demo, "run_demo", fake_run_demo)
    result = run("demo")
    assert result.code == code
    assert message in result.err


def test_keyboard_interrupt_elsewhere_exits_130(run, monkeypatch):
    def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(jwt_guard.cli._inspect, "run", interrupted)
    assert run("inspect", "x").code == 130
