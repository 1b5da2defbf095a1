"""The `browser` probe kind: headless Chromium loads a page, runs scripted steps, checks a selector."""

from probes.browser.runner import close_browser, run_browser_async, run_browser_probe
from probes.browser.spec import BrowserProbeSpec

__all__ = ["BrowserProbeSpec", "close_browser", "run_browser_async", "run_browser_probe"]
