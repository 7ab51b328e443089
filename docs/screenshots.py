"""Take the README's screenshots from a running server and cast one demo code on the way.

    .venv/bin/python docs/screenshots.py [http://127.0.0.1:8000] [var/demo-codes.csv]

Uses Debian's Chromium (see tests/browser.py). Writes docs/img/home.png, docs/img/vote.png and
docs/img/receipt.png, and prints the tracker of the ballot it cast.
"""

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium  # noqa: E402


def main(base="http://127.0.0.1:8000", codes_file="var/demo-codes.csv"):
    with open(codes_file, newline="") as handle:
        row = next(r for r in csv.DictReader(handle) if r["region"] == "siberia")
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(base + "/")
        page.screenshot(path=out / "home.png", full_page=True)
        page.goto(f"{base}/polls/{row['poll']}/")
        page.fill("#id_code", row["code"])
        page.locator("input[type=radio]").first.check()
        page.screenshot(path=out / "vote.png")
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("button", name="Confirm and cast my vote").click()
        tracker = page.locator("#tracker").inner_text()
        page.screenshot(path=out / "receipt.png")
        print(f"cast demo code of poll {row['poll']}; receipt tracker {tracker}")


if __name__ == "__main__":
    main(*sys.argv[1:])
