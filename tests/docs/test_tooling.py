"""The test commands: a newcomer's ``tox`` runs what the machine has, CI
insists on every interpreter, and both run the README's command."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", readme, re.DOTALL)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return commands[1]


def test_tox_skips_missing_interpreters_by_default():
    config = configparser.ConfigParser()
    config.read(ROOT / "tox.ini")
    assert config.getboolean("tox", "skip_missing_interpreters") is True
    envs = [env.strip() for env in config.get("tox", "env_list").split(",")]
    assert {"py310", "py311", "py312", "py313"} <= set(envs)


def test_ci_requires_every_interpreter_and_runs_the_readme_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines() if line.strip() and not line.strip().startswith("#")]
    strict = lines.index("export TOX_SKIP_MISSING_INTERPRETERS=false")
    assert lines[-1] == readme_test_command() == 'python -m pip install "tox>=4.11" tox-uv && tox'
    assert strict < len(lines) - 1


def test_readme_says_how_long_the_full_run_takes_and_how_to_check_quickly():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"takes about \d+ minutes", readme)
    assert "tox -e py312" in readme


def test_every_slow_test_is_where_the_slow_environment_looks():
    """``tox -e slow`` collects tests/security only: a test marked slow
    anywhere else would never run."""
    elsewhere = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("*.py")
        if "mark.slow" in path.read_text(encoding="utf-8")
        and (ROOT / "tests" / "security") not in path.parents
        and path != Path(__file__)
    ]
    assert elsewhere == []
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    assert "-m slow tests/security" in config.get("testenv:slow", "commands")


def test_py311_runs_everything_and_the_others_leave_out_only_the_once_tests():
    """py311 runs every test (the slow suite and the one_interpreter tests
    included, each once per tox run); py310, py312 and py313 leave out
    those two markers and nothing else."""
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "tox.ini")
    commands = [line.strip() for line in config.get("testenv", "commands").splitlines() if line.strip()]
    assert commands == [
        "py311: pytest -n auto {posargs}",
        '!py311: pytest -n auto -m "not slow and not one_interpreter" {posargs}',
    ]
    envs = [env.strip() for env in config.get("tox", "env_list").split(",")]
    assert "slow" not in envs  # py311 runs the slow suite; tox -e slow runs it alone
