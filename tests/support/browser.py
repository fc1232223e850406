"""Headless Chromium driven through chromedriver (selenium), for tests that need a real browser.

The browser and its driver come from the system's packages (Debian:
``chromium`` and ``chromium-driver``); nothing is downloaded: the driver's
path is given to selenium, so its download manager never runs. Missing
binaries or a missing ``selenium`` follow the rule of
:mod:`tests.support.services` (skip with how to install them, or fail under
``JWT_GUARD_REQUIRE_SERVICES=1``).

Each :class:`Chromium` runs with a fresh profile directory and none of the
background traffic a desktop browser makes (updates, sync, first-run pages).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tests.support.services import free_port, require_binary, unavailable

INSTALL = "apt-get install chromium chromium-driver"
#: Where tests copy what they want kept (screenshots); ``test-artifacts/`` by default.
ARTIFACTS = "JWT_GUARD_TEST_ARTIFACTS"
ROOT = Path(__file__).resolve().parents[2]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1000,760",
)


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    return require_binary(names[0], INSTALL)  # skips (or fails) with the install hint


class Chromium:
    """A headless Chromium session (a selenium ``WebDriver``) with its own profile under *directory*."""

    def __init__(self, directory: Path) -> None:
        self.browser = _binary("chromium", "chromium-browser")
        self.driver_binary = _binary("chromedriver")
        try:
            from selenium import webdriver  # noqa: F401
        except ImportError:
            unavailable("selenium is not installed: pip install -e '.[test]'")
        self.directory = directory
        self.driver: Any = None

    def start(self) -> Any:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        profile = self.directory / "profile"
        profile.mkdir(parents=True, exist_ok=True)
        options = webdriver.ChromeOptions()
        options.binary_location = self.browser
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        service = Service(
            executable_path=self.driver_binary,
            port=free_port(),
            log_output=str(self.directory / "chromedriver.log"),
        )
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(30)
        self.driver.set_script_timeout(30)
        return self.driver

    def stop(self) -> None:
        if self.driver is not None:
            self.driver.quit()  # ends the browser and chromedriver
            self.driver = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def keep_artifact(path: Path) -> Path:
    """Copy *path* to ``$JWT_GUARD_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the
    checkout, which git ignores) and return the copy's path."""
    directory = Path(os.environ.get(ARTIFACTS) or ROOT / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / path.name
    shutil.copyfile(path, target)
    return target
