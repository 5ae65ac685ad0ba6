"""The report in a real browser: headless Chromium loads a demo-size report from disk (no
network), runs its script without an error, lays out every section and plot, and paints them.

Chromium comes from Debian's ``chromium`` package (``.ci/run`` installs it); without the binary
the test is skipped, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ares_rlhf.report.html import REPORT_FILE, SECTION_IDS

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1280, 2400)


def _browser() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip(
        "no Chromium binary on PATH (apt-get install -y --no-install-recommends chromium); "
        "the browser check of the HTML report did not run"
    )


def _chromium(binary: str, page: Path, *flags: str, home: Path) -> subprocess.CompletedProcess:
    command = [
        binary,
        "--headless",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-extensions",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={home / 'profile'}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--virtual-time-budget=5000",
        "--run-all-compositor-stages-before-draw",  # a screenshot of fully painted frames
        *flags,
        page.as_uri(),
    ]
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)


def test_chromium_renders_the_report_without_script_errors(full_run, tmp_path: Path) -> None:
    from PIL import Image, ImageStat

    binary = _browser()
    page = full_run[0] / REPORT_FILE
    dom = _chromium(binary, page, "--dump-dom", home=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    # the page's own script ran to its end and counted no error
    root = re.search(r"<html[^>]*>", html).group(0)
    assert 'data-report-ready="1"' in root, root
    assert "data-script-errors" not in root, root
    assert "Uncaught" not in dom.stderr
    for section in SECTION_IDS:
        assert f'id="{section}"' in html, section
    plots = re.findall(r'<figure class="plot" id="(plot-[a-z-]+)">\s*<svg', html)
    assert {"plot-discovery-curve", "plot-search-allocation", "plot-policy-training"} <= set(plots)
    assert sum(p.startswith("plot-failure-map-") for p in plots) == 6

    shot = tmp_path / "report.png"
    result = _chromium(binary, page, f"--screenshot={shot}", home=tmp_path)
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == WINDOW
    # painted: the top of the page (title, headline table) is not one flat colour
    top = image.crop((0, 0, WINDOW[0], 900))
    assert ImageStat.Stat(top).stddev[0] > 10
    keep = os.environ.get("ARES_REPORT_SCREENSHOT")
    if keep:  # let a person look at it
        shutil.copyfile(shot, keep)
