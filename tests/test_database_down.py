"""PostgreSQL down: the site says so plainly (503) and accepts nothing."""

import json

import pytest

from tests.servers import fetch, free_port, gunicorn


@pytest.fixture
def server_without_database(tmp_path):
    dead = free_port()  # nothing listens there
    with gunicorn(tmp_path / "server.log", DATABASE_URL=f"postgres://postgres@127.0.0.1:{dead}/referendum") as (
        base, _server
    ):
        yield base


@pytest.mark.slow
def test_pages_and_api_answer_503_when_postgres_is_down(server_without_database):
    status, headers, body = fetch(server_without_database + "/")
    assert status == 503
    assert b"temporarily unavailable" in body and b"Nothing was recorded" in body
    assert headers["Retry-After"] == "30"

    status, headers, body = fetch(
        server_without_database + "/api/v1/polls/1/ballots",
        data=json.dumps({"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": 1}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert status == 503
    assert json.loads(body)["error"] == "service_unavailable"

    status, _headers, body = fetch(server_without_database + "/healthz")
    assert status == 503
