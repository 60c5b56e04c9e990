"""Render a study's report.html in headless Chromium and check what a reader sees.

The report is written as HTML strings; only a browser says whether its figures decode, whether a
wide table pushes the page sideways, and whether the verdict and the leaderboard really are on the
first screen. This script asserts exactly that:

1. First screen (desktop viewport, default 1280 x 900, page as shipped: every section collapsed,
   scrolled to the top, images loaded). "Holds the summary" means: the verdict (the first
   ``p.summary``) is rendered and lies entirely inside the viewport; the compact leaderboard (the
   first ``<table>`` outside every ``<details>``) starts below the verdict, its header row and
   every data row lie entirely inside the viewport (top >= 0, bottom <= viewport height), and
   the whole table is in view sideways (within the viewport and its scrolling box): no column
   needs a scroll; the headline figure (the first ``<img>`` outside every ``<details>``) is
   rendered and lies entirely inside the viewport.
2. Figures (every section opened): each ``<img>`` is a ``data:`` URI (the report stays one
   self-contained file), has finished loading (``complete``) and decoded to a natural size > 0.
3. Width (every section opened, at each width, default 1280 and 800 px): the document is no wider
   than the viewport (``scrollWidth <= clientWidth``); a wide table must scroll inside its own
   container. Failures name the outermost elements that stick out. Each side-by-side row
   (``div.side``, the leaderboard beside its figure) keeps its items inside it, without
   overlapping, and wraps rather than squeezing a figure below its natural width when the row
   has room for that width on a line of its own (at 800 px the demo's row wraps: the summary
   line says on how many lines).

It saves a PNG of the first screen with ``--screenshot``. Exit codes: 0 every check passed;
1 a check failed (each failure printed); 2 bad usage or no such report; 3 Chromium, chromedriver
or the selenium package is missing (the command that installs it is printed); 4 the browser
could not be started or the page not loaded.

Why selenium: it is the W3C WebDriver client maintained with the standard itself, pure Python,
and drives the distribution's ``chromedriver`` (Debian ``chromium-driver``) without downloading
anything when both paths are given. Chrome's ``--headless --screenshot`` alone cannot measure
element positions, and speaking the DevTools protocol directly would mean a websocket client plus
hand-written protocol handling; selenium gives both (``execute_script``, ``execute_cdp_cmd``).

Run: python bench/check_report_browser.py OUT/report.html [--screenshot first_screen.png]
     [--widths 1280,800] [--height 900] [--chromium PATH] [--chromedriver PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OK, FAILED, MISSING, BROWSER = 0, 1, 3, 4  # 2: bad usage (argparse's own code)
APT = "apt-get update && apt-get install -y chromium chromium-driver"
PIP = 'pip install -c constraints.txt -e ".[test]"   (or: pip install "selenium>=4.15,<5")'
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
#: Quiet offline Chromium: no GPU, and none of the background fetches (updates, sync, QUIC
#: probes) that flood refused connections on a machine without network.
FLAGS = [
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--force-device-scale-factor=1",
]

FIRST_SCREEN_JS = """
const box = el => { if (!el) return null; const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, height: r.height}; };
const verdict = [...document.querySelectorAll('p.summary')].find(p => !p.closest('details'));
const table = [...document.querySelectorAll('table')].find(t => !t.closest('details'));
const figure = [...document.images].find(im => !im.closest('details'));
const rows = table ? [...table.rows].map(box) : [];
const vw = document.documentElement.clientWidth, wrap = table && table.parentElement;
const scrolls = wrap && getComputedStyle(wrap).overflowX !== 'visible';
return {vh: window.innerHeight, vw: vw, y: window.scrollY, verdict: box(verdict),
        table: box(table), rows: rows, figure: box(figure),
        clip: scrolls ? Math.min(vw, wrap.getBoundingClientRect().right) : vw};
"""
IMAGES_JS = """
return [...document.images].map((im, i) => ({i: i, alt: im.alt, complete: im.complete,
  w: im.naturalWidth, h: im.naturalHeight, data: im.getAttribute('src').startsWith('data:')}));
"""
#: The outermost elements that stick out past the viewport's right edge and are not inside a
#: horizontally scrolling container (those are allowed to be wide).
OVERFLOW_JS = """
const vw = document.documentElement.clientWidth;
const scrolls = el => { for (let a = el.parentElement; a && a !== document.body;
    a = a.parentElement) { const o = getComputedStyle(a).overflowX;
    if (o === 'auto' || o === 'scroll' || o === 'hidden') return true; } return false; };
const wide = [...document.body.querySelectorAll('*')].filter(el =>
  el.getBoundingClientRect().right > vw + 0.5 && !scrolls(el));
const top = wide.filter(el => !wide.includes(el.parentElement)).slice(0, 5);
return {sw: document.documentElement.scrollWidth, vw: vw, culprits: top.map(el => {
  const r = el.getBoundingClientRect();
  return `<${el.tagName.toLowerCase()}${el.className ? ' class=' + el.className : ''}> ` +
    `right edge ${Math.round(r.right)} px: ${(el.textContent || '').trim().slice(0, 60)}`; })};
"""
#: Every side-by-side row: its box, its items' boxes and the images it shows below their
#: natural width.
SIDE_JS = """
const box = el => { const r = el.getBoundingClientRect();
  return {top: r.top, bottom: r.bottom, left: r.left, right: r.right}; };
return [...document.querySelectorAll('div.side')].map(side => ({box: box(side),
  items: [...side.children].map(box),
  squeezed: [...side.querySelectorAll('img')].filter(im => im.width < im.naturalWidth - 0.5)
    .map(im => ({alt: im.alt, shown: im.width, natural: im.naturalWidth}))}));
"""
OPEN_ALL_JS = "document.querySelectorAll('details').forEach(d => { d.open = true; });"


def find_tools(chromium: str | None, driver: str | None) -> tuple[str, str] | str:
    """``(chromium, chromedriver)`` paths, or the message saying what is missing and the
    command(s) that install it."""
    missing, commands = [], []
    chromium = chromium or next((p for b in BROWSERS if (p := shutil.which(b))), None)
    driver = driver or shutil.which("chromedriver")
    for what, path in (("Chromium", chromium), ("chromedriver", driver)):
        if not path or not os.access(path, os.X_OK):
            missing.append(f"{what} ({path} is not an executable)" if path else what)
            commands = [f"{APT}    (Debian/Ubuntu, as root)"]
    if importlib.util.find_spec("selenium") is None:
        missing.append("the Python package selenium")
        commands.append(PIP)
    if not missing:
        return str(chromium), str(driver)
    install = "".join(f"\n    {c}" for c in commands)
    return f"the browser check needs {' and '.join(missing)}; install:{install}"


def start(chromium: str, driver: str, profile: str, timeout: float) -> Any:
    """A headless Chromium under the given chromedriver (nothing downloaded, logs discarded)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        opts.add_argument("--no-sandbox")  # Chromium refuses to run sandboxed as root
    service = Service(executable_path=driver, log_output=subprocess.DEVNULL)
    browser = webdriver.Chrome(service=service, options=opts)
    browser.set_page_load_timeout(timeout)
    browser.set_script_timeout(timeout)
    return browser


def viewport(browser: Any, width: int, height: int) -> None:
    """Exactly ``width x height`` CSS pixels of page (the window size would include chrome)."""
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    browser.execute_script("window.scrollTo(0, 0);")


def inside(b: dict, vw: float, vh: float) -> bool:
    return b["top"] >= 0 and b["bottom"] <= vh and b["left"] >= 0 and b["right"] <= vw + 0.5


def span(b: dict) -> str:
    return f"x {b['left']:.0f}-{b['right']:.0f}, y {b['top']:.0f}-{b['bottom']:.0f} px"


def first_screen(browser: Any, failures: list[str]) -> str:
    """Check the first screen (see the module docstring, 1.); returns a one-line summary."""
    m = browser.execute_script(FIRST_SCREEN_JS)
    vh, vw, v, t, rows, fig = m["vh"], m["vw"], m["verdict"], m["table"], m["rows"], m["figure"]
    screen = f"the {vw}x{vh} viewport"
    if m["y"] != 0:
        failures.append(f"first screen: the page did not open at the top (scrollY {m['y']})")
    if not v or v["height"] <= 0:
        failures.append("first screen: no visible verdict (p.summary outside <details>)")
        v = None
    elif not inside(v, vw, vh):
        failures.append(
            f"first screen: the verdict spans y {v['top']:.0f}-{v['bottom']:.0f} px, "
            f"not inside {screen}"
        )
    if not fig or fig["height"] <= 0:
        failures.append("first screen: no visible headline figure (<img> outside <details>)")
        fig = None
    elif not inside(fig, vw, vh):
        failures.append(f"first screen: the headline figure spans {span(fig)}, not inside {screen}")
    if not t or len(rows) < 2:
        failures.append("first screen: no leaderboard table with a data row outside <details>")
        return "no leaderboard"
    if v and t["top"] < v["bottom"]:
        failures.append("first screen: the leaderboard is not below the verdict")
    if not (rows[0]["top"] >= 0 and rows[0]["bottom"] <= vh):
        failures.append(
            f"first screen: the leaderboard's header row spans y "
            f"{rows[0]['top']:.0f}-{rows[0]['bottom']:.0f} px, not above the {vh} px fold"
        )
    out = [i for i, r in enumerate(rows[1:], 1) if not (r["top"] >= 0 and r["bottom"] <= vh)]
    if out:
        failures.append(
            f"first screen: {len(out)} of the leaderboard's {len(rows) - 1} data rows are not "
            f"above the {vh} px fold (row {out[0]} spans y {rows[out[0]]['top']:.0f}-"
            f"{rows[out[0]]['bottom']:.0f} px)"
        )
    if t["left"] < 0 or t["right"] > m["clip"] + 0.5:
        failures.append(
            f"first screen: the leaderboard is {t['right'] - t['left']:.0f} px wide and shows "
            f"only up to x = {m['clip']:.0f} px: some columns need a sideways scroll"
        )
    where = f"verdict at y {v['top']:.0f}-{v['bottom']:.0f} px; " if v else ""
    where += (
        f"leaderboard at {span(t)}, header and {len(rows) - 1 - len(out)} of {len(rows) - 1} "
        f"rows above the {vh} px fold"
    )
    return where + (f"; headline figure at {span(fig)}" if fig else "")


def wait_for_images(browser: Any, timeout: float) -> list[dict]:
    """The images' state once all are complete (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        images = browser.execute_script(IMAGES_JS)
        if all(im["complete"] for im in images) or time.monotonic() > deadline:
            return images
        time.sleep(0.1)


def check_images(images: list[dict], failures: list[str]) -> None:
    for im in images:
        what = f"figure {im['i'] + 1} ({(im['alt'] or 'no alt text')[:50]})"
        if not im["data"]:
            failures.append(f"{what}: not a data: URI, so the report is not self-contained")
        if not im["complete"] or im["w"] <= 0 or im["h"] <= 0:
            failures.append(
                f"{what}: did not load (complete={im['complete']}, "
                f"natural size {im['w']}x{im['h']})"
            )


def check_width(browser: Any, width: int, failures: list[str]) -> str:
    """Check the page's width and its side-by-side rows (module docstring, 3.); a summary."""
    m = browser.execute_script(OVERFLOW_JS)
    if m["sw"] > m["vw"]:
        culprits = "".join(f"\n    {c}" for c in m["culprits"]) or " (no single element found)"
        failures.append(
            f"width {width}: the page is {m['sw']} px wide, wider than the "
            f"{m['vw']} px viewport; sticking out:{culprits}"
        )
    said = []
    for i, side in enumerate(browser.execute_script(SIDE_JS), 1):
        c, items = side["box"], side["items"]
        what = f"width {width}: side-by-side row {i}"
        for j, it in enumerate(items, 1):
            if it["left"] < c["left"] - 0.5 or it["right"] > c["right"] + 0.5:
                failures.append(f"{what}: item {j} at {span(it)} sticks out of the row")
            for k, other in enumerate(items[: j - 1], 1):
                if (
                    it["top"] < other["bottom"] - 0.5
                    and other["top"] < it["bottom"] - 0.5
                    and it["left"] < other["right"] - 0.5
                    and other["left"] < it["right"] - 0.5
                ):
                    failures.append(f"{what}: items {k} and {j} overlap")
        room = c["right"] - c["left"]
        for im in side["squeezed"]:
            if im["natural"] + 4 <= room:
                failures.append(
                    f"{what}: figure ({(im['alt'] or 'no alt text')[:40]}) squeezed to "
                    f"{im['shown']} of its {im['natural']} px instead of wrapping below"
                )
        lines = 1 + sum(y["top"] >= x["bottom"] - 0.5 for x, y in itertools.pairwise(items))
        said.append(f"side-by-side row {i} on {lines} line{'s' * (lines > 1)}")
    return ", ".join(said)


def check(
    report: Path,
    tools: tuple[str, str],
    widths: list[int],
    height: int,
    screenshot: Path | None,
    timeout: float,
) -> list[str]:
    """Every check of the module docstring; the failures (empty: all passed)."""
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="langsteer-chromium-") as profile:
        browser = start(*tools, profile, timeout)
        try:
            viewport(browser, widths[0], height)
            browser.get(report.resolve().as_uri())
            wait_for_images(browser, timeout)  # the figure's height is known once decoded
            print(f"first screen {widths[0]}x{height}: {first_screen(browser, failures)}")
            if screenshot:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(browser.get_screenshot_as_png())
                print(f"screenshot: {screenshot} ({screenshot.stat().st_size / 1024:.0f} KiB)")
            browser.execute_script(OPEN_ALL_JS)
            images = wait_for_images(browser, timeout)
            check_images(images, failures)
            print(f"figures: {len(images)} checked (every section opened)")
            for width in widths:
                viewport(browser, width, height)
                rows = check_width(browser, width, failures)
                print(f"width {width} px: checked (every section opened){'; ' * bool(rows)}{rows}")
        finally:
            browser.quit()
    return failures


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("report", type=Path, help="the report.html to check")
    p.add_argument("--screenshot", type=Path, help="save the first screen here (PNG)")
    p.add_argument(
        "--widths",
        default="1280,800",
        help="viewport widths in px, comma-separated; the first is the first screen's",
    )
    p.add_argument("--height", type=int, default=900, help="viewport height in px (the fold)")
    p.add_argument("--chromium", help="Chromium binary (default: chromium on PATH)")
    p.add_argument("--chromedriver", help="chromedriver binary (default: chromedriver on PATH)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds for a page or a script")
    args = p.parse_args(argv)
    try:
        args.widths = [int(w) for w in args.widths.split(",")]
    except ValueError:
        p.error(f"--widths: expected comma-separated pixel widths, got {args.widths!r}")
    if min(args.widths) < 200 or args.height < 200:
        p.error("--widths and --height: each must be at least 200 px")
    if not args.report.is_file():
        p.error(f"report: no such file {args.report} (langsteer run or langsteer demo writes one)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tools = find_tools(args.chromium, args.chromedriver)
    if isinstance(tools, str):
        print(tools, file=sys.stderr)
        return MISSING
    from selenium.common.exceptions import WebDriverException

    try:
        failures = check(
            args.report, tools, args.widths, args.height, args.screenshot, args.timeout
        )
    except (WebDriverException, OSError) as exc:
        why = getattr(exc, "msg", None) or exc
        print(f"the browser failed: {why}", file=sys.stderr)
        return BROWSER
    for f in failures:
        print(f"FAIL {f}", file=sys.stderr)
    print("report check: " + (f"{len(failures)} failure(s)" if failures else "all passed"))
    return FAILED if failures else OK


if __name__ == "__main__":
    sys.exit(main())
