"""Guards serving/static (the demo page) end to end in headless Chromium:
sample users load, a recommendation shows history, the interests and the
candidates each nominated, retrieval order beside the final order, the order
the service chose with the export gate's figures, and a title search that adds
an item to the history."""

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


GATE = {"order": "ranking", "split": "validation", "examples": 943, "candidates": 100,
        "retrieval": {"hr@10": 0.1177, "ndcg@10": 0.0612}, "funnel": {"hr@10": 0.1431, "ndcg@10": 0.0755},
        "candidate_recall": 0.4512}
"""A manifest ``gate`` entry as ``funnel export --data`` writes it (serving/evaluation/gate.py)."""


@pytest.fixture
def serve_toy(make_backend, serve):
    """``with serve_toy(**bundle_options) as server``: the app on a toy export version 1."""
    def start(**options):
        backend = make_backend(**options)
        backend.add(1)
        return serve(create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend))
    return start


@pytest.fixture
def server(serve_toy):
    with serve_toy() as server:
        yield server


def open_page(browser, server):
    """The page once its start-up requests (/v1/samples, /v1/models) have been shown."""
    page = browser.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-loaded]", state="attached")
    return page


def column(page, table: str, index: int) -> list[str]:
    return page.locator(f"#{table} tbody tr td:nth-child({index + 1})").all_text_contents()


def test_sample_user_shows_history_candidates_and_ranking(browser, server):
    page = open_page(browser, server)
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
    assert page.errors == []


def test_answer_shows_interests_both_orders_and_the_chosen_order(browser, server):
    page = open_page(browser, server)
    page.select_option("#sample", index=1)
    page.fill("#k", "5")
    page.fill("#candidates", "15")
    page.click("#go")
    page.wait_for_selector("#ranking-table tbody tr")
    answer = page.request.post(server.url + "/v1/recommend", data={
        "history": ["i1", "i2", "i3"], "user_id": "u1", "k": 5, "candidates": 15, "explain": True}).json()
    candidates = [c["item_id"] for c in answer["candidates"]]
    final = [item["item_id"] for item in answer["items"]]
    assert final != candidates[:5]                # the toy ranker re-orders, so the two columns differ

    # the M = 2 interests, each listing the candidates it nominated
    cards = page.locator("#interests .interest")
    assert cards.count() == 2 and page.text_content("#interest-count") == "(M = 2)"
    for m in range(2):
        nominated = [c for c in answer["candidates"] if c["interest"] == m]
        card = page.locator(f"#interests .interest[data-interest='{m}']")
        assert card.locator(".count").text_content() == str(len(nominated))
        # title, then id and retrieval position (#), for its first five
        assert card.locator("li").all_text_contents() == [
            f"{c['title']}{c['item_id']} #{candidates.index(c['item_id']) + 1}" for c in nominated[:5]]
    # retrieval order beside the final order, with each candidate's interest and position
    assert column(page, "candidate-table", 1) == candidates
    assert column(page, "candidate-table", 3) == [str(c["interest"] + 1) for c in answer["candidates"]]
    assert column(page, "ranking-table", 1) == final
    assert column(page, "ranking-table", 6) == [str(candidates.index(i) + 1) for i in final]
    marked = page.locator("#candidate-table tbody tr.chosen td:nth-child(2)").all_text_contents()
    assert sorted(marked) == sorted(final)
    # the order the service chose: ranking, as this toy export is served
    assert answer["order"] == "ranking" and page.text_content("#order") == "ranking"
    assert "no gate" in page.text_content("#gate-note")
    assert page.locator("#gate-table").is_hidden()
    assert page.errors == []


def test_gate_figures_show_and_retrieval_order_is_followed(browser, serve_toy):
    with serve_toy(gate={**GATE, "order": "retrieval", "candidates": 37}, order="retrieval") as server:
        page = open_page(browser, server)
        assert page.input_value("#candidates") == "37"  # the gate's candidate count, from /v1/models
        assert page.text_content("#gate-order").startswith("The export's gate chose retrieval order")
        assert "943 validation users" in page.text_content("#gate-order")
        rows = page.locator("#gate-table tbody tr")
        assert rows.nth(0).locator("td").all_text_contents() == ["retrieval order", "0.1177", "0.0612"]
        assert rows.nth(1).locator("td").all_text_contents() == ["ranking order", "0.1431", "0.0755"]
        assert rows.nth(0).get_attribute("class") == "chosen"
        assert "0.4512 with 37 candidates" in page.text_content("#gate-note")
        page.fill("#history", "i1, i2, i3")
        page.fill("#k", "4")
        page.click("#go")
        page.wait_for_selector("#ranking-table tbody tr")
        assert page.text_content("#order") == "retrieval"
        assert column(page, "ranking-table", 1) == column(page, "candidate-table", 1)[:4]
        assert column(page, "ranking-table", 6) == ["1", "2", "3", "4"]


def test_a_served_order_other_than_the_gate_is_named(browser, serve_toy):
    with serve_toy(gate=GATE, order="retrieval") as server:         # funnel serve --order retrieval
        page = open_page(browser, server)
        text = page.text_content("#gate-order")
        assert text.startswith("The export's gate chose ranking order")
        assert "answers follow retrieval order" in text


def test_title_search_adds_the_item_to_the_history(browser, server):
    page = open_page(browser, server)
    page.select_option("#sample", index=1)
    page.fill("#search-box", "TITLE 2")
    page.wait_for_selector("#search-results button[data-item='i29']")
    results = page.locator("#search-results button")
    assert results.count() == 11                   # Title 2 first, then Title 29..20
    assert results.nth(0).text_content() == "Title 2i2"
    assert "11 matches" in page.text_content("#search-status")
    page.fill("#search-box", "title 27")
    page.wait_for_selector("#search-results button >> nth=0 >> text=Title 27")
    page.click("#search-results button[data-item='i27']")
    assert page.input_value("#history") == "i1, i2, i3, i27"
    assert page.text_content("#search-status") == "added Title 27 (i27)"
    page.click("#go")
    page.wait_for_selector("#history-table tbody tr:nth-child(4)")
    assert page.locator("#history-table tbody tr").nth(3).text_content() == "i27Title 27yes"
    assert "i27" not in column(page, "candidate-table", 1)      # excluded as history now
    page.fill("#search-box", "no such film")
    page.wait_for_function("document.getElementById('search-status').textContent === 'no match'")
    assert page.locator("#search-results li").count() == 0
    assert page.errors == []


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
    assert page.text_content("#order") == "popularity"
    assert page.text_content("#interests") == "None: no history item is known."


def test_bad_input_shows_the_error(browser, server):
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#history", "i1")
    page.fill("#k", "5000")
    page.evaluate("document.getElementById('k').removeAttribute('max')")
    page.click("#go")
    page.wait_for_selector("#status.error")
    assert page.text_content("#status").startswith("error 422: k:")


def test_title_columns_hide_without_titles(browser, serve_toy):
    with serve_toy(titles=False) as server:
        page = open_page(browser, server)
        assert page.evaluate("document.body.classList.contains('no-titles')")
        page.fill("#history", "i1")
        page.click("#go")
        page.wait_for_selector("#ranking-table tbody tr")
        assert page.locator("#ranking-table th.title-col").is_hidden()
        assert page.locator("#ranking-table tbody td.title-col").first.is_hidden()
        assert page.locator("#ranking-table tbody td").nth(1).is_visible()
