"""report.html of a real tiny study, rendered in headless Chromium by the browser check.

The slow tests need Chromium, chromedriver and selenium (see bench/check_report_browser.py for
the install commands) and skip with the reason when one is missing; CI installs all three.
"""

from __future__ import annotations

import base64
import importlib.util
import re
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path
from types import ModuleType

import pytest

from langsteer.study.pipeline import run_study
from tests.test_pipeline import tiny_study

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "check_report_browser.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png(width: int, height: int) -> str:
    """A white ``width x height`` PNG as a data: URI (built here: no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    pixels = b"".join(b"\0" + b"\xff" * 3 * width for _ in range(height))
    data = PNG_MAGIC + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


#: Everything below the fold, a table too wide for its box, a broken and an outside figure.
BROKEN = f"""<!DOCTYPE html><html><body><div style="height: 1500px"></div>
<p class="summary">a verdict below the fold</p>
<div style="overflow-x: auto"><table style="width: 2000px"><tr><th>Method</th></tr>
<tr><td>none</td></tr></table></div>
<img src="{png(300, 200)}" alt="headline below the fold">
<details><summary>more</summary><img src="data:image/png;base64,AAAA" alt="broken figure">
<div style="width: 3000px">a wide block</div></details>
<img src="figures/elsewhere.png" alt="outside figure"></body></html>
"""
#: The verdict and the first rows on screen, but the last rows and the figure below the fold,
#: and two side-by-side rows that do not wrap at 800 px (one sticks out, one squeezes).
ROWS = "".join(f"<tr><td>method {i}</td></tr>" for i in range(60))
FOLD = f"""<!DOCTYPE html><html><body><p class="summary">a verdict</p>
<table><tr><th>Method</th></tr>{ROWS}</table>
<div class="side" style="display: flex"><div style="flex: none; width: 700px">a table</div>
<div style="flex: none"><img src="{png(400, 60)}" alt="sticking out"></div></div>
<div class="side" style="display: flex"><div style="flex: none; width: 700px">a table</div>
<div style="min-width: 0"><img src="{png(400, 60)}" alt="squeezed" style="max-width: 100%">
</div></div></body></html>
"""


def run_check(*args: object) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(SCRIPT), *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def load_check() -> ModuleType:
    """bench/check_report_browser.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("check_report_browser", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOLS = load_check().find_tools(None, None)  # the paths, or what to install (and how)
needs_browser = pytest.mark.skipif(isinstance(TOOLS, str), reason=str(TOOLS))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """report.html of a real study (two targets, model and embedding methods), with figures."""
    tmp = tmp_path_factory.mktemp("browser")
    methods = [{"name": m} for m in ("experts", "none", "per-language-centring", "whitening")]
    cfg = tiny_study(tmp, methods=methods)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: "unreliable experts" warnings
        run_study(cfg, tmp / "out")
    return tmp / "out" / "report.html"


@pytest.mark.slow
@needs_browser
def test_report_passes_the_browser_check(report, tmp_path):
    pytest.importorskip("matplotlib")  # the figures
    shot = tmp_path / "first.png"
    done = run_check(report, "--screenshot", shot, "--widths", "1280,800,480")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "report check: all passed" in done.stdout
    first = re.search(r"header and (\d+) of (\d+) rows above the 900 px fold", done.stdout)
    assert first and first[1] == first[2]  # every row of the leaderboard
    assert "; headline figure at x " in done.stdout
    assert "width 1280 px: checked (every section opened); side-by-side row 1 on 1 line\n" in (
        done.stdout
    )  # the figure beside the table...
    assert "width 480 px: checked (every section opened); side-by-side row 1 on 2 lines" in (
        done.stdout
    )  # ...and below it on a narrow screen
    assert int(re.search(r"figures: (\d+) checked", done.stdout)[1]) >= 2  # + collapsed ones
    png = shot.read_bytes()
    assert png.startswith(PNG_MAGIC)
    assert int.from_bytes(png[16:20], "big") == 1280  # IHDR width: exactly the viewport
    assert int.from_bytes(png[20:24], "big") == 900


@pytest.mark.slow
@needs_browser
def test_the_check_fails_a_broken_page(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(BROKEN, encoding="utf-8")
    done = run_check(page)
    assert done.returncode == 1, done.stdout + done.stderr
    err = done.stderr
    assert "the verdict spans" in err and "header row spans" in err
    assert "1 of the leaderboard's 1 data rows are not above the 900 px fold" in err
    assert "the headline figure spans x 8-308, y " in err and "not inside the " in err
    assert "figure 1 " not in err  # the headline loads; its place is what fails
    assert "figure 2 (broken figure): did not load" in err
    assert "figure 3 (outside figure): not a data: URI" in err
    assert "the leaderboard is 2000 px wide" in err  # clipped by its scrolling box...
    assert "<table" not in err  # ...which keeps it from widening the page
    assert "width 1280: the page is" in err and "a wide block" in err
    assert "width 800: the page is" in err


@pytest.mark.slow
@needs_browser
def test_the_check_fails_rows_and_figures_below_the_fold(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(FOLD, encoding="utf-8")
    done = run_check(page)
    assert done.returncode == 1, done.stdout + done.stderr
    err = done.stderr
    assert "verdict" not in err and "header row" not in err  # these are on screen...
    fold = re.search(
        r"(\d+) of the leaderboard's 60 data rows are not above the 900 px fold "
        r"\(row (\d+) spans",
        err,
    )
    assert fold and 0 < int(fold[1]) < 60 and int(fold[2]) > 1  # ...the first rows too
    assert "the headline figure spans" in err  # the first figure outside <details>
    assert "width 1280: side-by-side" not in err  # both rows fit side by side at 1280 px
    assert re.search(r"width 800: side-by-side row 1: item 2 at x \d+-\d+, .* sticks out", err)
    assert re.search(
        r"width 800: side-by-side row 2: figure \(squeezed\) squeezed to \d+ of its "
        r"400 px instead of wrapping below",
        err,
    )
    assert "width 800: the page is" in err


def test_missing_tools_name_the_install_command(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(BROKEN, encoding="utf-8")
    done = run_check(page, "--chromedriver", tmp_path / "no-such-chromedriver")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "apt-get install -y chromium chromium-driver" in done.stderr
    assert run_check(tmp_path / "missing.html").returncode == 2
