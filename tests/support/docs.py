"""Code blocks of the documentation, for tests that run them as written.

README quickstarts are fenced ``python`` blocks preceded by a marker
comment, ``<!-- quickstart: KEY [FILE [append]] -->``: KEY names the
quickstart (``starlette``, ``django``, ...), FILE where the block goes in a
project (``mysite/views.py``), and ``append`` that it is added at the end of
that file rather than replacing it. Other documents name a block by its
first line, ``# name.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"

_QUICKSTART = re.compile(
    r"<!-- quickstart: (?P<key>[\w-]+)(?: (?P<file>[\w/.]+))?(?P<append> append)? -->\n"
    r"```python\n(?P<code>.*?)```",
    re.DOTALL,
)
_NAMED = re.compile(r"```python\n# (?P<name>[\w.]+\.py)\n(?P<code>.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Block:
    """One marked README block."""

    key: str
    file: str
    append: bool
    code: str


def quickstart_blocks(text: str | None = None) -> list[Block]:
    """The marked quickstart blocks of the README, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    return [Block(m["key"], m["file"] or "app.py", bool(m["append"]), m["code"]) for m in _QUICKSTART.finditer(text)]


def quickstart(key: str) -> str:
    """The code of the one-file quickstart *key* (its ``app.py``)."""
    blocks = [block for block in quickstart_blocks() if block.key == key]
    assert len(blocks) == 1, f"README.md should have one quickstart block marked {key!r}"
    return blocks[0].code


def named_blocks(path: Path) -> dict[str, str]:
    """``{file name: code}`` for every python block of *path* whose first line is ``# <name>.py``."""
    files: dict[str, str] = {}
    for match in _NAMED.finditer(path.read_text(encoding="utf-8")):
        assert match["name"] not in files, f"{path.name} shows {match['name']} twice"
        files[match["name"]] = match["code"]
    return files


def build_project(root: Path, key: str) -> None:
    """Write (or append) the README blocks of quickstart *key* under *root*, in order."""
    for block in quickstart_blocks():
        if block.key != key:
            continue
        target = root / block.file
        target.parent.mkdir(parents=True, exist_ok=True)
        if block.append:
            assert target.exists(), f"{block.file} is appended to but does not exist"
            with target.open("a", encoding="utf-8") as out:
                out.write("\n" + block.code)
        else:
            target.write_text(block.code, encoding="utf-8")
