"""The bundle pushed to S3-compatible storage: moto's standalone server as its own process (never
an in-process mock), read back byte for byte; a second push uploads only what changed; a push to a
store that does not answer fails, is counted on /metrics and retried by the task."""

import hashlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.test import Client

from referendum import health
from tallying import mirrors, services, tasks
from tests.mirrors import configure, publish_rounds
from tests.sealing import cast_many
from tests.servers import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def s3_server(tmp_path, monkeypatch):
    port = free_port()
    log = open(tmp_path / "moto.log", "w")  # noqa: SIM115 — closed below
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port), "-H", "127.0.0.1"],
                              stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/", timeout=2).read()
            break
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "moto.log").read_text()
            time.sleep(0.2)
    for name, value in (("AWS_ACCESS_KEY_ID", "test"), ("AWS_SECRET_ACCESS_KEY", "test")):
        monkeypatch.setenv(name, value)
    try:
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def objects(client, bucket, prefix):
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix):]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def test_push_to_s3_reads_back_byte_identical_and_uploads_only_changes(s3_server, settings, tmp_path):
    target = f"s3://votes/mirror?endpoint={s3_server}&region=eu-central-1"
    configure(settings, tmp_path, targets=f"store={target}")
    bucket, prefix, options = mirrors.s3_location(target)
    client = mirrors.s3_client(options)
    client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    polls, _trackers = publish_rounds(rounds=2)
    with mirrors.mirror_lock():
        manifest = mirrors.build_bundle()
    mirrors.push_target("store")

    stored = objects(client, bucket, prefix)
    local = mirrors.bundle_dir()
    assert set(stored) == {p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()}
    for name, body in stored.items():
        assert body == (local / name).read_bytes(), name
    assert json.loads(stored["manifest.json"]) == manifest
    head = client.head_object(Bucket=bucket, Key=prefix + f"export/poll-{polls[0].id}.jsonl")
    assert head["ContentType"] == "application/x-ndjson"

    # The next publication: only what changed is uploaded (moto keeps each object's ETag: an MD5).
    etags = {item["Key"]: item["ETag"] for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]}
    cast_many(polls[0], 3)
    services.seal_poll(polls[0].id)
    with mirrors.mirror_lock():
        mirrors.build_bundle()
    before = time.time()
    mirrors.push_target("store")
    stored = objects(client, bucket, prefix)
    for name, body in stored.items():
        assert body == (local / name).read_bytes(), name
    modified = {item["Key"][len(prefix):] for item in client.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
                if item["LastModified"].timestamp() >= int(before) and item["ETag"] != etags.get(item["Key"])}
    assert f"export/poll-{polls[0].id}.jsonl" in modified and "manifest.json" in modified
    assert "verifier/tallying/verify.py" not in modified and "static/css/site.css" not in modified
    assert hashlib.sha256(stored[f"export/poll-{polls[0].id}.jsonl"]).hexdigest() == json.loads(
        json.loads(stored["manifest.json"])["statement"])["files"][f"export/poll-{polls[0].id}.jsonl"]["sha256"]


def test_a_failing_push_is_counted_on_metrics_and_retried(settings, tmp_path, monkeypatch):
    dead = f"http://127.0.0.1:{free_port()}"
    configure(settings, tmp_path, targets=f"dead=s3://votes/m?endpoint={dead}")
    settings.METRICS_TOKEN = "t" * 40
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    health.redis_client().delete(health.MIRROR_STATS_KEY)
    publish_rounds(rounds=1)
    with mirrors.mirror_lock():
        mirrors.build_bundle()
    with pytest.raises(Retry):
        tasks.push_mirror.apply(args=["dead"], throw=True, retries=0)
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "t" * 40).content.decode()
    assert 'referendum_mirror_push_failures_total{target="dead"} 1.0' in body
    assert 'referendum_mirror_push_failing{target="dead"} 1.0' in body
    assert 'referendum_mirror_last_success_timestamp_seconds{target="dead"} 0.0' in body
    lag = next(line for line in body.splitlines() if line.startswith('referendum_mirror_lag_seconds{target="dead"}'))
    assert float(lag.split()[-1]) >= 0
