"""Screenshots of /results/ (desktop and a 390 px phone) taken while votes arrive.

    .venv/bin/python docs/results_screenshots.py BASE_URL CODES_DIR

Run the server with RATELIMIT_ENABLE=0: all these ballots come from one address. CODES_DIR holds one CSV per poll, named <poll id>.csv (from `manage.py issue_codes`). The script
casts them through the API over about a minute, with a different lean per region, then takes
docs/img/results-desktop.png and docs/img/results-phone.png.
"""

import csv
import json
import random
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium  # noqa: E402


def cast(base, poll_id, code, option_id):
    request = urllib.request.Request(
        f"{base}/api/v1/polls/{poll_id}/ballots",
        data=json.dumps({"code": code, "option": option_id}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError as error:
        if error.code != 409:  # a code used by an earlier run
            raise


def main(base, codes_dir):
    polls = json.load(urllib.request.urlopen(f"{base}/api/v1/polls"))["polls"]
    queue = []
    for poll in polls:
        path = Path(codes_dir) / f"{poll['id']}.csv"
        if not path.exists():
            continue
        lean = random.Random(poll["id"]).uniform(0.55, 0.9)
        yes, no = poll["options"][0]["id"], poll["options"][1]["id"]
        with open(path, newline="") as handle:
            for row in csv.DictReader(handle):
                queue.append((poll["id"], row["code"], yes if random.random() < lean else no))
    random.shuffle(queue)
    rounds = 12
    per_round = max(1, len(queue) // rounds)
    for i in range(rounds):
        for poll_id, code, option in queue[i * per_round : (i + 1) * per_round]:
            cast(base, poll_id, code, option)
        time.sleep(4)
    out = ROOT / "docs" / "img"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/results/")
        page.wait_for_timeout(1500)
        page.screenshot(path=out / "results-desktop.png", full_page=True)
        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, device_scale_factor=2)
        phone.goto(base + "/results/")
        phone.screenshot(path=out / "results-phone.png")
    print(f"cast {len(queue)} ballots; screenshots in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
