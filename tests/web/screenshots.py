"""The screenshots of the console in docs/ and the README, made from the test archive.

    .venv/bin/python -m tests.web.screenshots docs/      # writes console-stories.png, console-feeds.png
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS, build_archive, live_console

SHOTS = {"console-stories.png": "", "console-feeds.png": "feeds"}


def main(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as work:
        database = build_archive(Path(work) / "archive.db", hostile=False)
        with live_console(database) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in SHOTS.items():
                page.goto(url + path)
                page.screenshot(path=str(folder / name))
                print(f"wrote {folder / name}")
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
