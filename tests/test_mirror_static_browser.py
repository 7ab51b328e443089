"""A mirror served by a plain static server, the origin not running: the results pages and the
receipt lookup work in Chromium with JavaScript off (and the lookup with it on, without sending
the tracker anywhere); the mirror's export verifies; a tampered or stale copy is caught."""

import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ballots import codes
from tallying import mirror_check, mirrors, services, signing
from tests.browser import chromium
from tests.mirrors import configure, publish_rounds
from tests.sealing import cast_many
from tests.servers import free_port

pytestmark = [pytest.mark.django_db, pytest.mark.browser]


def static_server(root):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                              cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(base + "/manifest.json", timeout=2).read()
            return server, base
        except OSError:
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)


@pytest.fixture
def served_mirror(settings, tmp_path):
    """A bundle after a few publications, pushed to a folder target and served by http.server.
    The origin the pages link to is a port nothing listens on."""
    configure(settings, tmp_path, targets=f"local=file://{tmp_path}/www/mirror")
    settings.MIRROR_ORIGIN_URL = f"http://127.0.0.1:{free_port()}"
    polls, trackers = publish_rounds(rounds=3, per_round=5)
    with mirrors.mirror_lock():
        mirrors.build_bundle()
    mirrors.push_target("local")
    folder = tmp_path / "www" / "mirror"
    assert folder.is_symlink()
    server, base = static_server(folder)
    try:
        yield polls, trackers, base, folder
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_results_and_receipt_lookup_work_from_the_static_copy_without_javascript(served_mirror):
    polls, trackers, base, _folder = served_mirror
    tracker, (poll, option) = next(iter(trackers.items()))
    digest = codes.hash_tracker(codes.normalize_tracker(tracker)).hex()
    with chromium() as browser:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        seen = []
        page.on("request", lambda request: seen.append(request.url))
        page.goto(base + "/ru/results/index.html")
        card = page.locator(f'[data-poll="{poll.id}"]')
        assert card.locator("dd[data-total]").inner_text() == "15"
        assert "Сибирь" in page.content()
        page.click("text=EN")  # the language switch is a plain link on the mirror
        assert page.url == base + "/en/results/index.html"
        page.locator("article.card h2 a", has_text="Urals").click()  # the card's link (the summary's is an anchor)
        assert page.url == base + "/en/results/urals/index.html"
        assert page.locator("table.series tbody tr").count() == 3  # three publications
        page.goto(base + "/en/results/index.html")
        page.locator(f'[data-poll="{poll.id}"]').get_by_role("link", name="Ledger").click()
        assert page.url == base + f"/en/ledger/{poll.id}/index.html"
        assert page.locator("table.ledger tbody tr").count() == 15

        # The receipt lookup without JavaScript: the voter's own SHA-256 names the shard to open.
        page.goto(base + "/en/receipt/index.html")
        assert not page.locator("#mirror-receipt").is_visible()  # the JS form stays hidden
        page.get_by_role("link", name=digest[:2], exact=True).click()
        assert page.url == base + f"/receipts/{digest[:2]}.txt"
        line = next(li for li in page.inner_text("body").splitlines() if li.startswith(digest))
        assert line.split() == [digest, str(poll.id), line.split()[2], str(option.id)]
        assert all(url.startswith(base) for url in seen), [u for u in seen if not u.startswith(base)]
        context.close()

        # With JavaScript: typed as on the receipt, hashed in the page, one shard fetched.
        context = browser.new_context()
        page = context.new_page()
        seen = []
        page.on("request", lambda request: seen.append(request.url))
        page.goto(base + "/en/receipt/index.html")
        page.fill("#mirror-tracker", tracker.lower())
        page.click("#mirror-receipt button")
        result = page.locator("#mirror-receipt-result")
        result.locator("h2").wait_for()
        assert "Counted: in the public ledger" in result.inner_text()
        assert option.label_en in result.inner_text() and digest in result.inner_text()
        assert not any(tracker.replace("-", "") in url.upper().replace("-", "") for url in seen)
        assert [u for u in seen if "/receipts/" in u] == [base + f"/receipts/{digest[:2]}.txt"]
        page.fill("#mirror-tracker", "0" * 32)
        page.click("#mirror-receipt button")
        page.locator("#mirror-receipt-result .error").wait_for()
        assert "No published ballot has this tracker" in result.inner_text()
        context.close()


def test_the_served_copy_verifies_and_a_tampered_or_stale_one_fails(served_mirror, settings, tmp_path):
    polls, _trackers, base, folder = served_mirror
    key = signing.public_key_hex()
    summary = mirror_check.check_mirror(base, [key], verify_exports=True)
    assert summary["exports_verified"]
    from tallying import verify

    for poll in polls:
        assert verify.main([f"{base}/export/poll-{poll.id}.jsonl", "--public-key", key]) == 0
    assert verify.main([str(folder / "export"), "--public-key", key]) == 0

    # A newer publication, pushed to a second mirror: the first one is now stale.
    cast_many(polls[0], 2)
    services.seal_poll(polls[0].id)
    newer = tmp_path / "newer"
    with mirrors.mirror_lock():
        mirrors.build_bundle()
    mirrors.push_local(newer, mirrors.current_manifest())
    with pytest.raises(mirror_check.MirrorProblem, match="stale"):
        mirror_check.check_mirror(base, [key], reference=str(newer))
    with pytest.raises(CommandError, match="stale"):
        call_command("check_mirror", base, "--reference", str(newer))

    # Tampered on the server: one figure in one page.
    page = folder / "en" / "results" / "index.html"
    text = page.read_text()
    page.unlink()  # a hard link to the release: replace the file, not its shared content
    page.write_text(text.replace('data-total>15<', 'data-total>51<'))
    with pytest.raises(mirror_check.MirrorProblem, match="en/results/index.html: its content differs"):
        mirror_check.check_mirror(base, [key])
    shutil.rmtree(newer.resolve())
