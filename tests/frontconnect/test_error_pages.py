"""Issue 19 item 5: 404 and 500 pages in the product's style; the API keeps its JSON errors."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from api.errors import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_a_frontconnect_page(client, owner, stranger, token_connection):
    client.force_login(stranger)
    response = client.get(token_connection.get_absolute_url())  # alice's: a 404 for mallory
    content = response.content.decode()
    assert response.status_code == 404
    assert "This page does not exist" in content
    assert "/static/frontconnect/style.css" in content and 'class="site-header"' in content
    assert 'href="/connections/"' in content  # a way back


def test_the_api_still_answers_404_in_json(client, owner):
    client.force_login(owner)
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_a_server_error_is_a_frontconnect_page():
    response = server_error(RequestFactory().get("/connections/"))
    content = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on FrontConnect's side" in content
    assert "/static/frontconnect/style.css" in content and 'class="site-header"' in content
