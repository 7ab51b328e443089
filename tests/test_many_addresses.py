"""Many names (issue 18): every page lists the other addresses to vote at and the signed mirrors,
and every mirror's manifest carries that list signed, so a reader whose domain is blocked can find
another without trusting the mirror that told them."""

import json

import pytest
from django.test import Client

from tallying import mirror_check, mirrors
from tallying.services import seal_poll
from tests.factories import make_poll
from tests.sealing import cast_many

VOTING = ["https://vote.example.org", "http://referendumxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"]
MIRRORS = ["https://mirror-one.example.net", "https://ipfs.example/ipns/referendum"]


@pytest.mark.django_db(transaction=True)
def test_pages_and_the_signed_manifest_name_the_other_addresses(settings, tmp_path):
    settings.VOTING_ADDRESSES, settings.MIRROR_ADDRESSES = VOTING, MIRRORS
    settings.MIRROR_BUILD_DIR = tmp_path / "mirror"
    poll = make_poll()
    cast_many(poll, 3)
    seal_poll(poll.id)
    for path in ("/", "/results/", f"/polls/{poll.id}/"):
        html = Client().get(path).content.decode()
        assert all(f'href="{url}/"' in html for url in VOTING + MIRRORS), path
    mirrors.build_bundle()
    bundle = mirrors.bundle_dir()
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert json.loads(manifest["statement"])["addresses"] == {"voting": VOTING, "mirrors": MIRRORS}
    summary = mirror_check.check_mirror(str(bundle))
    assert summary["addresses"] == {"voting": VOTING, "mirrors": MIRRORS}  # read from the signed text
    assert "signed voting addresses: https://vote.example.org" in mirror_check.describe(str(bundle), summary)
    # An address slipped into the manifest after signing is caught: the signature no longer matches.
    forged = json.loads(manifest["statement"])
    forged["addresses"]["voting"] = ["https://phishing.example"]
    manifest["statement"] = json.dumps(forged)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(mirror_check.MirrorProblem):
        mirror_check.check_mirror(str(bundle))
