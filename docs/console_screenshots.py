"""Screenshot of the console's poll overview, signed in as the demo coordinator.

    .venv/bin/python docs/console_screenshots.py [BASE_URL] [var/demo-organizers.txt] [POLL_ID]
"""

import re
import sys
from base64 import b32decode
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from django_otp.oath import totp  # noqa: E402

from tests.browser import chromium  # noqa: E402


def main(base="http://127.0.0.1:8000", accounts="var/demo-organizers.txt", poll_id="1"):
    text = Path(accounts).read_text()
    password = re.search(r"username coordinator  password (\S+)", text).group(1)
    secret = re.search(r"coordinator.*?TOTP secret[^:]*: (\S+)", text, re.S).group(1)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(base + "/console/login")
        page.fill("#id_username", "coordinator")
        page.fill("#id_password", password)
        page.get_by_role("button", name="Continue").click()
        page.fill("#id_token", f"{totp(b32decode(secret)):06d}")
        page.get_by_role("button", name="Verify").click()
        page.goto(f"{base}/console/polls/{poll_id}/")
        page.screenshot(path=ROOT / "docs" / "img" / "console-overview.png", full_page=True)
        page.goto(f"{base}/console/")
        page.screenshot(path=ROOT / "docs" / "img" / "console-home.png")


if __name__ == "__main__":
    main(*sys.argv[1:])
