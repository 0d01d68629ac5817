"""The page's files as the query service serves them: every script a JavaScript module
the browser will run (it refuses a module served with any other type), and the stylesheet
as CSS."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import REPO, ServiceProcess

WEB = REPO / "web"
SCRIPTS = sorted(path.relative_to(WEB).as_posix() for path in WEB.rglob("*.js"))
JAVASCRIPT_TYPES = ("text/javascript", "application/javascript")


def test_the_page_loads_its_entry_point_as_a_module() -> None:
    page = (WEB / "index.html").read_text()

    assert '<script type="module" src="./app.js"></script>' in page
    assert page.count("<script") == 1


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_is_served_as_javascript(
    query_replicas: list[ServiceProcess], script: str
) -> None:
    response = httpx.get(f"{query_replicas[0].base_url}/{script}", timeout=10)

    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0].strip() in JAVASCRIPT_TYPES
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content == (WEB / script).read_bytes()


def test_the_stylesheet_is_served_as_css(query_replicas: list[ServiceProcess]) -> None:
    response = httpx.get(f"{query_replicas[0].base_url}/style.css", timeout=10)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
