"""The signed mirror bundle (tallying/mirrors.py): the same bytes the origin serves, appended per
publication, a manifest signed over every file, and a checker that catches a tampered or stale
copy."""

import json
import shutil
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from tallying import mirror_check, mirrors, services, signing, verify
from tests.mirrors import configure, publish_rounds

pytestmark = pytest.mark.django_db


def build(settings, tmp_path):
    with mirrors.mirror_lock() as held:
        assert held
        return mirrors.build_bundle()


def test_bundle_holds_the_origins_bytes_and_a_manifest_signed_over_every_file(settings, tmp_path):
    configure(settings, tmp_path)
    polls, trackers = publish_rounds()
    manifest = build(settings, tmp_path)
    out = mirrors.bundle_dir()
    origin = Client()
    for poll in polls:
        assert (out / f"export/poll-{poll.id}.jsonl").read_bytes() == b"".join(
            origin.get(f"/api/v1/polls/{poll.id}/export").streaming_content)
        assert (out / f"api/v1/polls/{poll.id}/tally.json").read_bytes() == origin.get(
            f"/api/v1/polls/{poll.id}/tally").content
        assert (out / f"api/v1/polls/{poll.id}/snapshots.json").read_bytes() == origin.get(
            f"/api/v1/polls/{poll.id}/snapshots").content
    assert (out / "api/v1/public-key.json").read_bytes() == origin.get("/api/v1/public-key").content

    statement = json.loads(manifest["statement"])
    assert signing.verify(signing.public_key_hex(), manifest["statement"], manifest["signature"])
    listed = set(statement["files"])
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for page in ("en/results/index.html", "ru/results/index.html", "en/results/siberia/index.html",
                 "ru/receipt/index.html", f"en/ledger/{polls[0].id}/index.html", "static/js/mirror-receipt.js",
                 "verifier/tallying/verify.py", "verifier/README.txt"):
        assert page in listed, page
    newest = max(s.taken_at for s in services.Snapshot.objects.all())
    assert statement["newest_statement"] == newest.isoformat()
    # Every ballot is in the receipt shard its tracker hash names.
    for tracker, (poll, option) in trackers.items():
        from ballots import codes

        digest = codes.hash_tracker(codes.normalize_tracker(tracker)).hex()
        lines = (out / "receipts" / f"{digest[:2]}.txt").read_text().splitlines()
        assert [line.split()[1:] for line in lines if line.startswith(digest)][0][0] == str(poll.id)
        assert [line.split() for line in lines if line.startswith(digest)][0][3] == str(option.id)


def test_pages_link_inside_the_bundle_and_have_no_live_refresh(settings, tmp_path):
    configure(settings, tmp_path)
    polls, _trackers = publish_rounds(rounds=1)
    build(settings, tmp_path)
    out = mirrors.bundle_dir()
    page = (out / "ru/results/index.html").read_text()
    assert "Результаты" in page or "результаты" in page
    assert 'href="siberia/index.html"' in page
    assert f'href="../ledger/{polls[0].id}/index.html"' in page
    assert f'href="../../export/poll-{polls[0].id}.jsonl"' in page
    assert 'href="../../static/css/site.css"' in page
    assert "live-tally" not in page and 'action="/i18n/setlang/"' not in page
    assert 'href="../../en/results/index.html"' in page  # the language switch, as a link
    assert 'href="http://127.0.0.1:8000/"' in page  # voting happens on the origin
    for path in (out / "static/css/site.css", out / "en/results/siberia/index.html"):
        assert path.is_file()


def test_a_new_publication_appends_to_the_export_and_ledger_pages(settings, tmp_path):
    configure(settings, tmp_path)
    polls, _trackers = publish_rounds(rounds=1, per_round=60)
    build(settings, tmp_path)
    parts = mirrors.build_dir() / "parts" / f"poll-{polls[0].id}" / "entries.jsonl"
    before = parts.read_bytes()
    from tests.sealing import cast_many

    cast_many(polls[0], 60)
    services.seal_poll(polls[0].id)
    build(settings, tmp_path)
    after = parts.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 120  # appended, not rewritten
    out = mirrors.bundle_dir()
    origin = Client()
    assert (out / f"export/poll-{polls[0].id}.jsonl").read_bytes() == b"".join(
        origin.get(f"/api/v1/polls/{polls[0].id}/export").streaming_content)
    ledger = out / "en" / "ledger" / str(polls[0].id)
    assert sorted(p.name for p in ledger.iterdir()) == ["after-100.html", "index.html"]
    assert 'href="after-100.html"' in (ledger / "index.html").read_text()
    assert verify.verify_export(str(out / f"export/poll-{polls[0].id}.jsonl"), signing.public_key_hex(),
                                out=lambda *_: None)["entries"] == 120


def test_an_interrupted_build_is_repaired_by_the_next(settings, tmp_path):
    configure(settings, tmp_path)
    polls, _trackers = publish_rounds(rounds=1)
    build(settings, tmp_path)
    parts = mirrors.build_dir() / "parts" / f"poll-{polls[0].id}" / "entries.jsonl"
    with open(parts, "ab") as half_written:  # a build that died after appending, before its state
        half_written.write(b'{"type":"entry","position":99}\n')
    build(settings, tmp_path)
    out = mirrors.bundle_dir()
    assert (out / f"export/poll-{polls[0].id}.jsonl").read_bytes() == b"".join(
        Client().get(f"/api/v1/polls/{polls[0].id}/export").streaming_content)


def test_checker_passes_a_good_copy_and_names_a_tampered_or_stale_one(settings, tmp_path, capsys):
    configure(settings, tmp_path)
    polls, _trackers = publish_rounds(rounds=2)
    build(settings, tmp_path)
    old = tmp_path / "old-mirror"
    shutil.copytree(mirrors.bundle_dir(), old)
    from tests.sealing import cast_many

    cast_many(polls[1], 3)
    services.seal_poll(polls[1].id)
    build(settings, tmp_path)
    good = tmp_path / "good-mirror"
    shutil.copytree(mirrors.bundle_dir(), good)
    key = signing.public_key_hex()

    summary = mirror_check.check_mirror(str(good), [key], reference=str(old), verify_exports=True)
    assert summary["exports_verified"] and summary["files"] > 20
    call_command("check_mirror", str(good), "--reference", str(old))
    assert "OK " in capsys.readouterr().out

    # Stale: the old copy is older than the good one.
    with pytest.raises(mirror_check.MirrorProblem, match="stale"):
        mirror_check.check_mirror(str(old), [key], reference=str(good))
    with pytest.raises(CommandError, match="stale"):
        call_command("check_mirror", str(old), "--reference", str(good))

    # Tampered: one count changed in a page; a file added; the manifest edited.
    page = good / "en/results/index.html"
    page.write_text(page.read_text().replace("Ballots counted", "Ballots  counted"))
    with pytest.raises(mirror_check.MirrorProblem, match="en/results/index.html: its content differs"):
        mirror_check.check_mirror(str(good), [key])
    shutil.copy(old / "en/results/index.html", page)
    shutil.copytree(mirrors.bundle_dir(), tmp_path / "fresh")
    fresh = tmp_path / "fresh"
    (fresh / "en/results/login.html").write_text("<form>phishing</form>")
    with pytest.raises(mirror_check.MirrorProblem, match="not in the signed manifest"):
        mirror_check.check_mirror(str(fresh), [key])
    (fresh / "en/results/login.html").unlink()
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["statement"] = manifest["statement"].replace('"newest_statement":"2', '"newest_statement":"3')
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(mirror_check.MirrorProblem, match="signature does not verify"):
        mirror_check.check_mirror(str(fresh), [key])
    # Another key: refused.
    with pytest.raises(mirror_check.MirrorProblem, match="not a key you trust"):
        mirror_check.check_mirror(str(good), ["00" * 32])


def test_the_shipped_verifier_runs_from_the_bundle_alone(settings, tmp_path):
    """verifier/ needs no Django and no checkout: the mirror check and the recount run from it."""
    configure(settings, tmp_path)
    polls, _trackers = publish_rounds(rounds=1)
    build(settings, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(mirrors.bundle_dir(), copy)
    key = signing.public_key_hex()
    env = {"PATH": "/usr/bin:/bin"}
    where = subprocess.run([sys.executable, "-c", "import tallying.verify as v; print(v.__file__)"],
                           cwd=copy / "verifier", env=env, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(copy / "verifier/tallying/verify.py"), where.stdout + where.stderr
    check = subprocess.run([sys.executable, "-m", "tallying.mirror_check", "..", "--public-key", key],
                           cwd=copy / "verifier", env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and check.stdout.startswith("OK .."), check.stdout + check.stderr
    recount = subprocess.run(
        [sys.executable, "-m", "tallying.verify", f"../export/poll-{polls[0].id}.jsonl", "--public-key", key],
        cwd=copy / "verifier", env=env, capture_output=True, text=True, timeout=120)
    assert recount.returncode == 0 and "chain verified" in recount.stdout, recount.stdout + recount.stderr


def test_tick_builds_after_a_publication_only_and_enqueues_each_push_once(settings, tmp_path):
    configure(settings, tmp_path, targets=f"here=file://{tmp_path}/www")
    polls, _trackers = publish_rounds(rounds=1)
    enqueued = []
    assert mirrors.tick(enqueued.append) == "built" and enqueued == ["here"]
    assert mirrors.tick(enqueued.append) == "unchanged" and enqueued == ["here"]  # the push is pending
    mirrors.push_target("here")
    assert (tmp_path / "www" / "manifest.json").read_bytes() == (mirrors.bundle_dir() / "manifest.json").read_bytes()
    assert mirrors.tick(enqueued.append) == "unchanged" and enqueued == ["here"]  # up to date
    from tests.sealing import cast_many

    cast_many(polls[0], 2)
    services.seal_poll(polls[0].id)
    assert mirrors.tick(enqueued.append) == "built" and enqueued == ["here", "here"]
