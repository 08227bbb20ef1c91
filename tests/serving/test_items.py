"""Guards serving/item_search.py and ``GET /v1/items`` (serving/routes/items.py): titles and
ids found whatever the case, best matches first, ``limit`` honoured, bad parameters a 422.

The toy catalog (conftest.toy_bundle): item ``i<r>`` is titled ``Title <r>`` and the
higher the row, the more popular the item.
"""

import numpy as np
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.item_search import ItemSearch
from serving.settings import MAX_SEARCH_RESULTS, ServiceSettings


@pytest.fixture
def client(make_backend):
    backend = make_backend()
    backend.add(1)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        yield client


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_title_search_ignores_case_and_puts_the_exact_title_first(client):
    response = client.get("/v1/items", params={"q": "TITLE 1"})
    # Title 1 exactly, then Title 10..19 (all start with the query), most popular (highest row) first
    assert _ids(response) == ["i1"] + [f"i{r}" for r in range(19, 9, -1)]
    body = response.json()
    assert body["matches"] == 11 and body["query"] == "TITLE 1"
    assert body["items"][0] == {"item_id": "i1", "title": "Title 1"}


def test_id_search_lists_the_exact_id_then_ids_containing_it(client):
    response = client.get("/v1/items", params={"q": "i3", "limit": 3})
    assert _ids(response) == ["i3", "i39", "i38"]
    assert response.json()["matches"] == 11                       # i3, i30..i39


def test_substring_inside_a_title_is_found_after_prefix_matches():
    titles = np.array(["Star Wars (1977)", "Return of the Jedi", "Wars of Star"], dtype=object)
    search = ItemSearch(np.array(["a", "b", "c"]), titles, popular_rows=np.array([0, 1, 2]))
    found, matches = search.find("  wars ", 10)
    assert [f["item_id"] for f in found] == ["c", "a"] and matches == 2   # prefix before substring


def test_limit_caps_the_list_but_not_the_count(client):
    response = client.get("/v1/items", params={"q": "title", "limit": 5})
    assert _ids(response) == ["i39", "i38", "i37", "i36", "i35"]
    assert response.json()["matches"] == 40


def test_blank_query_matches_nothing(client):
    for q in ("", "   "):
        body = client.get("/v1/items", params={"q": q}).json()
        assert body["items"] == [] and body["matches"] == 0


def test_no_match_is_an_empty_list(client):
    assert _ids(client.get("/v1/items", params={"q": "no such film"})) == []


def test_catalog_without_titles_is_searched_by_id(make_backend):
    backend = make_backend(titles=False)
    backend.add(1)
    app = create_app(ServiceSettings(export_dir="unused", reload_interval_s=0), backend=backend)
    with TestClient(app) as client:
        body = client.get("/v1/items", params={"q": "I2"}).json()
        assert body["items"][0] == {"item_id": "i2", "title": None} and body["matches"] == 11
        assert client.get("/v1/items", params={"q": "title"}).json()["matches"] == 0


@pytest.mark.parametrize("params, field", [
    ({"q": "x", "limit": 0}, "query.limit"),
    ({"q": "x", "limit": MAX_SEARCH_RESULTS + 1}, "query.limit"),
    ({"q": "x", "limit": "ten"}, "query.limit"),
    ({"q": "x" * 201}, "query.q"),
    ({}, "query.q"),
])
def test_bad_parameters_are_a_422_naming_them(client, params, field):
    response = client.get("/v1/items", params=params)
    assert response.status_code == 422
    assert response.json()["error"].startswith(f"{field}:")

