"""What a browser test's page showed when the test failed: a screenshot and the lab's tabs.

A browser test that fails only on an overloaded machine cannot be watched; these files, in
``test-artifacts/failures/``, say whether a view never opened, opened behind another tab, or
stayed empty. Registered by ``tests/conftest.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page

FOLDER = Path(__file__).resolve().parents[2] / "test-artifacts" / "failures"

# The main area's tabs (the current one marked) and each MLOps view, whether hidden or shown.
DESCRIBE_PAGE = """() => [
  ...Array.from(document.querySelectorAll('#jp-main-dock-panel .lm-TabBar-tab')).map(
    t => `tab${t.classList.contains('lm-mod-current') ? ' (current)' : ''}: ${t.textContent}`),
  ...Array.from(document.querySelectorAll('.jp-mlops-view-widget')).map(
    w => `view ${w.id}${w.classList.contains('lm-mod-hidden') ? ' (hidden)' : ''}: ${(w.textContent || '').slice(0, 160)}`),
  ...Array.from(document.querySelectorAll('.jp-Dialog')).map(d => `dialog: ${(d.textContent || '').slice(0, 160)}`),
].join('\\n')"""


def pages_of(item) -> list:
    return [value for value in getattr(item, "funcargs", {}).values() if isinstance(value, Page)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        for index, page in enumerate(pages_of(item)):
            stem = FOLDER / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', item.nodeid)[-150:]}-{index}"
            try:
                FOLDER.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=f"{stem}.png", timeout=10_000)
                lines = [f"url: {page.url}", f"errors: {getattr(page, 'errors', [])}",
                         page.evaluate(DESCRIBE_PAGE)]
                Path(f"{stem}.txt").write_text("\n".join(lines) + "\n")
                report.sections.append(("page at failure", f"{stem}.png and .txt\n" + lines[-1]))
            except Exception as error:  # a closed page must not hide the test's own failure
                report.sections.append(("page at failure", f"not captured: {error}"))
    return report
