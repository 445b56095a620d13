"""The browser test never disappears silently: without Chromium it fails under CI=true or
CE_BROWSER=1, and is skipped with its reason otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BROWSER_TEST = Path(__file__).with_name("test_serve_browser.py")


def run_browser_test(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "CE_BROWSER")}
    clean.update(env, CE_CHROMIUM=str(tmp_path / "no-chromium"))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(BROWSER_TEST)],
                          capture_output=True, text=True, env=clean, cwd=BROWSER_TEST.parents[1], timeout=120)


@pytest.mark.parametrize("env", [{"CI": "true"}, {"CE_BROWSER": "1"}])
def test_missing_chromium_fails_where_the_browser_test_is_required(tmp_path: Path, env: dict[str, str]) -> None:
    pytest.importorskip("playwright.sync_api")
    result = run_browser_test(tmp_path, **env)
    assert result.returncode != 0, result.stdout
    assert "Chromium not found at" in result.stdout and "requires this test to run" in result.stdout, result.stdout


def test_missing_chromium_is_a_skip_with_its_reason_elsewhere(tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    result = run_browser_test(tmp_path)
    assert result.returncode in (0, 5) and "1 skipped" in result.stdout, result.stdout  # 5: no test collected
    assert "SKIPPED" in result.stdout and "Chromium not found at" in result.stdout, result.stdout
