"""The three widgets in a real browser: JupyterLab from the project's environment, headless Chromium
(Debian's package) driven by Playwright, the smoke profile.

For 04, 05 and 06: open a copy of the notebook (the committed one is never saved over), run all
cells from the Run menu, fail on any traceback in any output, then use the widget as a learner would:
move the dimension slider (04), type a query (05), upload a CSV (06), and check what it shows.
Screenshots go to build/browser/. `make test` installs Chromium where it can (see the Makefile); on
a machine without it the tests are skipped with the reason, except in CI, where they must run.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import skip_or_fail_in_ci

from helpers import paths

OUT = paths.BUILD / "browser"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage"]
RUN_LIMIT_S = 600          # one notebook, all cells, smoke profile
WIDGET_LIMIT_MS = 120_000  # one widget update (encoding a query, preview of an upload)


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed (make setup installs it)"
    if _chromium() is None:
        return "Chromium is not installed (Debian: apt-get install chromium; make test does it as root)"
    return None


@pytest.fixture(scope="module")
def lab():
    """A JupyterLab server on a free local port over copies of 04, 05 and 06."""
    why = _missing()
    if why:
        skip_or_fail_in_ci(why)
    shutil.rmtree(OUT, ignore_errors=True)
    work = OUT / "lab"
    notebooks = work / "notebooks"
    notebooks.mkdir(parents=True)
    for name in ("04_matryoshka.ipynb", "05_evaluation.ipynb", "06_try_it_yourself.ipynb"):
        shutil.copy(paths.NOTEBOOKS / name, notebooks / name)
    # Render every cell (JupyterLab draws only the visible ones by default), so that the outputs
    # of every cell can be read from the page.
    tracker = work / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = {**os.environ, "WORKBOOK_PROFILE": "smoke",
           "WORKBOOK_RESULTS": str(work / "results.json"),
           "JUPYTERLAB_SETTINGS_DIR": str(work / "settings"),
           "JUPYTER_RUNTIME_DIR": str(work / "runtime")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={notebooks}", "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = open(work / "server.log", "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    pytest.fail("JupyterLab did not start:\n"
                                + (work / "server.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"base": base, "token": token, "notebooks": notebooks}
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_and_run_all(browser, lab, name):
    """Open ``name`` in JupyterLab, run all cells from the Run menu, wait until every code cell has
    run; fail on a traceback in any output. Returns the page."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(WIDGET_LIMIT_MS)
    # A workspace of its own, reset: only this notebook is open (not the ones of earlier tests).
    workspace = Path(name).stem.replace("_", "-")
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}/tree/{name}?reset&token={lab['token']}")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", state="attached", timeout=90_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-StatusBar-Widget')]"
        ".some(e => e.innerText.includes('Idle'))", timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    deadline = time.time() + RUN_LIMIT_S
    while True:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        if prompts and all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in prompts):
            break
        errors = failures(page)
        if errors:
            break  # a cell failed: Run All stops there
        assert time.time() < deadline, f"{name}: not all cells ran within {RUN_LIMIT_S} s"
        time.sleep(2)
    page.screenshot(path=str(OUT / f"{Path(name).stem}-all.png"), full_page=True)
    assert not failures(page), f"{name}: a cell failed:\n" + "\n---\n".join(failures(page))
    return page


def close(page, lab) -> None:
    """Close the page and shut its kernel down (the next notebook gets the CPU to itself)."""
    page.close()
    auth = {"Authorization": f"token {lab['token']}"}
    listing = urllib.request.urlopen(urllib.request.Request(f"{lab['base']}/api/kernels",
                                                            headers=auth), timeout=10)
    for kernel in json.load(listing):
        urllib.request.urlopen(urllib.request.Request(
            f"{lab['base']}/api/kernels/{kernel['id']}", headers=auth, method="DELETE"), timeout=30)


def failures(page) -> list[str]:
    """The text of every output that holds a traceback (an exception a cell did not catch; the
    lessons' own caught errors, printed as "DataError: ...", are part of what they teach)."""
    texts = page.locator(".jp-OutputArea-output").all_inner_texts()
    return [t[-2000:] for t in texts if "Traceback" in t]


def widget_output(page) -> str:
    return page.locator(".widget-output").first.inner_text()


def test_04_the_dimension_slider_changes_the_hits(browser, lab):
    page = open_and_run_all(browser, lab, "04_matryoshka.ipynb")
    panel = page.locator(".widget-vbox", has=page.locator(".widget-hslider")).first
    panel.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.widget-output')"
                           "?.innerText.includes('dims (')")
    before = widget_output(page)
    assert re.search(r"^32 dims \(128 bytes", before, re.M), before[:300]
    panel.screenshot(path=str(OUT / "04-slider-32.png"))
    handle = panel.locator(".noUi-handle").first
    handle.focus()
    handle.press("End")  # the largest size
    page.wait_for_function("() => document.querySelector('.widget-output')"
                           "?.innerText.includes('384 dims')")
    after = widget_output(page)
    assert after != before and "matryoshka" in after and "fine-tuned" in after
    panel.screenshot(path=str(OUT / "04-slider-384.png"))
    assert not failures(page)
    close(page, lab)


def test_05_a_typed_query_shows_both_models(browser, lab):
    page = open_and_run_all(browser, lab, "05_evaluation.ipynb")
    box = page.locator(".widget-text input").first
    box.scroll_into_view_if_needed()
    box.fill("heart attack")
    box.press("Enter")
    page.wait_for_function("() => document.querySelector('.widget-output')"
                           "?.innerText.includes('query: heart attack')")
    shown = widget_output(page)
    assert "base" in shown and "fine-tuned" in shown and "rank" in shown
    assert page.locator(".widget-output table").count() == 1
    page.locator(".widget-vbox", has=box).first.screenshot(path=str(OUT / "05-query.png"))
    assert not failures(page)
    close(page, lab)


def test_06_an_uploaded_csv_is_previewed(browser, lab, tmp_path):
    starter = paths.DATA / "try_it_yourself" / "starter_pairs.csv"
    mine = tmp_path / "my pairs.csv"
    shutil.copy(starter, mine)
    before = mine.read_bytes()
    page = open_and_run_all(browser, lab, "06_try_it_yourself.ipynb")
    button = page.locator(".widget-upload").first
    button.scroll_into_view_if_needed()
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(str(mine))
    page.wait_for_function("() => [...document.querySelectorAll('.widget-output')]"
                           ".some(e => e.innerText.includes('error(s)'))")
    shown = page.locator(".widget-output", has_text="Saved a copy").first.inner_text()
    saved = re.search(r"Saved a copy as (\S+)", shown).group(1)
    try:
        assert "50 pairs · 0 error(s)" in shown, shown
        assert page.locator(".widget-output table").count() == 1  # the preview
        assert mine.read_bytes() == before, "the original file is never changed"
        assert "my_pairs" in saved and Path(paths.ROOT / saved).read_bytes() == before
        page.locator(".widget-vbox", has=button).first.screenshot(path=str(OUT / "06-upload.png"))
    finally:
        Path(paths.ROOT / saved).unlink(missing_ok=True)
    assert not failures(page)
    close(page, lab)
