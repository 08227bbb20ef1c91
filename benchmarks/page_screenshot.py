"""Screenshot of the demo page answering a sample user, for the README.

    python benchmarks/page_screenshot.py --export EXPORT --out docs/img/demo_page.png

Starts ``funnel serve --export EXPORT`` on a free localhost port, waits for
``/readyz``, opens the demo page in headless Chromium through Playwright (the
way ``tests/serving/test_page.py`` drives it: Debian's ``chromium``), picks a
sample user, submits, waits for the ranked answer, saves a full-page
screenshot and stops the server.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout_s: float) -> None:
    """Poll ``url`` until it answers 200; fail if the server exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"funnel serve exited with code {server.returncode} before {url} was ready")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready after {timeout_s:.0f} s")


def funnel_command() -> list[str]:
    """``funnel`` beside this Python (the venv's), else ``python -m funnel.cli``."""
    script = Path(sys.executable).with_name("funnel")
    return [str(script)] if script.exists() else [sys.executable, "-m", "funnel.cli"]


def screenshot(url: str, out: Path, chromium: str, sample: int, width: int, height: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(url + "/")
            page.wait_for_selector("body[data-loaded]", state="attached")
            options = page.locator("#sample option").count()
            if options < 2:
                raise SystemExit("the demo page lists no sample users (GET /v1/samples is empty)")
            page.select_option("#sample", index=min(sample, options - 1))
            page.click("#go")
            page.wait_for_selector("#ranking-table tbody tr")
            page.wait_for_timeout(300)  # let the interest cards and status line render
            if errors:
                raise SystemExit(f"the demo page raised: {errors[0]}")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--export", required=True, help="export folder of `funnel export`")
    parser.add_argument("--out", type=Path, default=Path("docs/img/demo_page.png"), help="PNG to write")
    parser.add_argument("--sample", type=int, default=1, help="which sample user of the page's list (1 = first)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in pixels")
    parser.add_argument("--height", type=int, default=900, help="viewport height (the shot is full-page)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium",
                        help="Chromium executable")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    args = parser.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(funnel_command() + ["serve", "--export", args.export, "--host", "127.0.0.1",
                                                  "--port", str(port), "--reload-interval", "0"])
    try:
        wait_ready(url + "/readyz", server, args.timeout)
        screenshot(url, args.out, args.chromium, args.sample, args.width, args.height)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
