"""Every page names our icon, and /favicon.ico (which browsers ask for anyway) leads to it: no 404
logged per visit."""

from django.contrib.staticfiles import finders
from django.test import Client


def test_pages_link_the_icon_and_favicon_ico_leads_to_it(db):
    home = Client().get("/").content.decode()
    assert 'rel="icon" href="/static/favicon.ico"' in home
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.ico"
    found = finders.find("favicon.ico")
    assert found and open(found, "rb").read(4) == b"\x00\x00\x01\x00"  # an ICO file
