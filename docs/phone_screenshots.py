"""Screenshots of the phone in Russian, the results (390 px phone and desktop), the console's
region and account pages, and link-preview images, from a running server (`make run`). Casts a few demo codes on the way so the
figures are not all zero.

    .venv/bin/python docs/phone_screenshots.py [BASE_URL] [var/demo-organizers.txt] [var/demo-codes.csv]
"""

import csv
import json
import re
import sys
import time
import urllib.error
import urllib.request
from base64 import b32decode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_otp.oath import totp  # noqa: E402

from tests.browser import chromium  # noqa: E402

OUT = ROOT / "docs" / "img"


def cast_some(base, codes_file, per_region=6):
    polls = {p["id"]: p for p in json.loads(urllib.request.urlopen(base + "/api/v1/polls").read())["polls"]}
    with open(codes_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    cast = {}
    for row in rows:
        poll = polls.get(int(row["poll"]))
        if poll is None or cast.get(poll["id"], 0) >= per_region:
            continue
        option = poll["options"][0 if (cast.get(poll["id"], 0) * 7 + poll["id"]) % 3 else 1]["id"]
        request = urllib.request.Request(
            f"{base}/api/v1/polls/{poll['id']}/ballots",
            data=json.dumps({"code": row["code"], "option": option}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            urllib.request.urlopen(request)
        except urllib.error.HTTPError:
            continue  # used by an earlier run
        cast[poll["id"]] = cast.get(poll["id"], 0) + 1
    time.sleep(6)  # a few sealing runs


def sign_in(page, base, accounts):
    text = Path(accounts).read_text()
    password = re.search(r"username coordinator  password (\S+)", text).group(1)
    secret = re.search(r"coordinator.*?TOTP secret[^:]*: (\S+)", text, re.S).group(1)
    page.goto(base + "/console/login")
    page.fill("#id_username", "coordinator")
    page.fill("#id_password", password)
    page.locator("main button[type=submit]").click()
    page.fill("#id_token", f"{totp(b32decode(secret)):06d}")
    page.locator("main button[type=submit]").click()
    page.wait_for_url("**/console/")


def main(base="http://127.0.0.1:8000", accounts="var/demo-organizers.txt", codes_file="var/demo-codes.csv"):
    cast_some(base, codes_file)
    with chromium() as browser:
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        phone.add_cookies([{"name": "django_language", "value": "ru", "url": base}])
        page = phone.new_page()
        page.goto(base + "/")
        page.screenshot(path=OUT / "phone-ru-home.png")
        page.goto(base + "/results/siberia/")
        page.screenshot(path=OUT / "phone-ru-results.png")
        page.goto(base + "/audit/")
        page.screenshot(path=OUT / "phone-ru-audit.png")
        phone.close()
        english = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
        page = english.new_page()
        page.goto(base + "/results/")
        page.screenshot(path=OUT / "results-phone.png")
        english.close()

        desktop = browser.new_page(viewport={"width": 1280, "height": 900})
        desktop.goto(base + "/results/")
        desktop.screenshot(path=OUT / "results-desktop.png", full_page=True)
        sign_in(desktop, base, accounts)
        desktop.goto(base + "/console/regions/")
        desktop.screenshot(path=OUT / "console-regions.png", full_page=True)
        desktop.goto(base + "/console/accounts/")
        desktop.screenshot(path=OUT / "console-accounts.png", full_page=True)

    for lang in ("ru", "en"):
        png = urllib.request.urlopen(f"{base}/results/siberia/preview-{lang}.png").read()
        (OUT / f"preview-siberia-{lang}.png").write_bytes(png)
    print("wrote phone-ru-*, results-phone, results-desktop, console-regions, console-accounts, preview-siberia-*")


if __name__ == "__main__":
    main(*sys.argv[1:])
