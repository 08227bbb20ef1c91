"""Guards serving/static (the demo page) end to end in headless Chromium:
sample users load, a recommendation shows history, candidates and ranking."""

import shutil

import pytest

from serving.app import create_app
from serving.settings import ServiceSettings

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.fail("chromium not installed: run `make browser` (Debian's chromium package)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(make_backend, serve):
    backend = make_backend()
    backend.add("1")
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with serve(app) as server:
        yield server


def test_sample_user_shows_history_candidates_and_ranking(browser, server):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#sample option:nth-child(2)", state="attached")
    assert page.text_content("#versions") == "export version 1, backend fake"
    page.select_option("#sample", index=1)
    assert page.input_value("#history") == "i1, i2, i3"
    page.fill("#k", "4")
    page.fill("#candidates", "12")
    page.click("#go")
    page.wait_for_selector("#ranking-table tbody tr")
    history = page.locator("#history-table tbody tr")
    assert history.count() == 3
    assert history.nth(0).text_content() == "i1Title 1yes"
    assert page.locator("#candidate-table tbody tr").count() == 12
    ranking = page.locator("#ranking-table tbody tr")
    assert ranking.count() == 4
    first = ranking.nth(0).locator("td")
    assert first.nth(0).text_content() == "1"
    assert first.nth(2).text_content() == "Title " + first.nth(1).text_content()[1:]
    # the toy ranking model prefers higher rows: the ranking is in descending row order
    rows = [int(ranking.nth(i).locator("td").nth(1).text_content()[1:]) for i in range(4)]
    assert rows == sorted(rows, reverse=True)
    assert "4 items in" in page.text_content("#status")
    assert errors == []


def test_typed_unknown_ids_show_warning_and_fallback(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#history", "nope, <b>x</b>")
    page.click("#go")
    page.wait_for_selector("#fallback-flag")
    warnings = page.text_content("#warnings")
    assert "'nope'" in warnings and "<b>x</b>" in warnings        # shown as text, not HTML
    assert page.locator("#warnings b").count() == 0
    assert page.locator("#history-table tbody tr").nth(0).text_content().endswith("unknown")
    assert page.locator("#ranking-table tbody tr").nth(0).locator("td").nth(1).text_content() == "i39"


def test_bad_input_shows_the_error(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#history", "i1")
    page.fill("#k", "5000")
    page.evaluate("document.getElementById('k').removeAttribute('max')")
    page.click("#go")
    page.wait_for_selector("#status.error")
    assert page.text_content("#status").startswith("error 422: k:")


def test_title_columns_hide_without_titles(browser, make_backend, serve):
    backend = make_backend(titles=False)
    backend.add("1")
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with serve(app) as server:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.wait_for_function("document.body.classList.contains('no-titles')")
        page.fill("#history", "i1")
        page.click("#go")
        page.wait_for_selector("#ranking-table tbody tr")
        assert page.locator("#ranking-table th.title-col").is_hidden()
        assert page.locator("#ranking-table tbody td.title-col").first.is_hidden()
        assert page.locator("#ranking-table tbody td").nth(1).is_visible()
