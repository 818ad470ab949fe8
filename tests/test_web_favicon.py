"""The site icon: every browser asks for /favicon.ico, logged in or not; it must not 404 (the
log filled with them) and the pages link it."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from fastapi.testclient import TestClient

from tests.web_util import login, make_app

SVG = "{http://www.w3.org/2000/svg}svg"


def _is_svg_image(response_body: bytes) -> bool:
    return ET.fromstring(response_body).tag == SVG


def test_favicon_is_an_image_without_login(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        response = client.get("/favicon.ico", follow_redirects=False)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert _is_svg_image(response.content)
        assert response.headers["cache-control"].startswith("public")


def test_pages_link_the_icon_and_the_link_answers(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        for path in ("/login", "/live"):
            if path == "/live":
                login(client)
            page = client.get(path)
            link = re.search(r'<link rel="icon" href="([^"]+)" type="image/svg\+xml">', page.text)
            assert link, f"{path} does not link the icon"
            icon = client.get(link.group(1))
            assert icon.status_code == 200 and _is_svg_image(icon.content)
