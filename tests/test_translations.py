"""The Russian catalog is complete, compiled, and what makemessages extracts today."""

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "ru" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
SOURCES = ["referendum", "regions", "ballots", "tallying", "templates", "static", "manage.py"]


def parse_po(path):
    """{msgid: (msgstr, fuzzy)} of a .po file, header excluded."""
    entries, fuzzy, key, current = {}, False, None, {}
    def unquote(line):
        return line[line.index('"') + 1 : line.rindex('"')].encode().decode("unicode_escape").encode("latin-1").decode()
    for line in path.read_text().splitlines() + [""]:
        if line.startswith("#,") and "fuzzy" in line:
            fuzzy = True
        elif line.startswith(("msgid ", "msgstr ", "msgid_plural ", "msgstr[")):
            # A plural entry is checked by its singular msgid and its first form (msgstr[0]);
            # test_placeholders_survive_translation reads the other forms from the .mo.
            key = {"msgstr[0]": "msgstr"}.get(line.split(" ", 1)[0], line.split(" ", 1)[0])
            current[key] = unquote(line)
        elif line.startswith('"') and key:
            current[key] += unquote(line)
        elif not line.strip() and current:
            if current.get("msgid"):
                entries[current["msgid"]] = (current.get("msgstr", ""), fuzzy)
            current, fuzzy, key = {}, False, None
    return entries


def test_every_entry_is_translated_and_none_is_fuzzy():
    entries = parse_po(PO)
    assert len(entries) > 250
    untranslated = [msgid for msgid, (msgstr, _) in entries.items() if not msgstr]
    fuzzy = [msgid for msgid, (_, is_fuzzy) in entries.items() if is_fuzzy]
    assert not untranslated and not fuzzy


def test_placeholders_survive_translation():
    for msgid, (msgstr, _) in parse_po(PO).items():
        assert sorted(re.findall(r"%\(\w+\)\w", msgid)) == sorted(re.findall(r"%\(\w+\)\w", msgstr)), msgid


def test_compiled_catalog_matches_the_po_file():
    with open(MO, "rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, (msgstr, _) in parse_po(PO).items():
        got = compiled.gettext(msgid)
        if got == msgid != msgstr:  # a plural entry: its first form
            got = compiled.ngettext(msgid, msgid, 1)
        assert got == msgstr, f"{msgid!r}: run `make messages`"


@pytest.mark.slow
def test_catalog_holds_every_string_the_code_marks(tmp_path):
    if not shutil.which("xgettext"):
        pytest.fail("gettext's xgettext is needed to extract messages (apt-get install gettext)")
    for name in SOURCES:
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / name)
    (tmp_path / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-location"],
        cwd=tmp_path, env=dict(os.environ, VAR_DIR=str(tmp_path / "var")), check=True, capture_output=True,
    )
    extracted = set(parse_po(tmp_path / "locale" / "ru" / "LC_MESSAGES" / "django.po"))
    missing = extracted - set(parse_po(PO))
    assert not missing, f"new strings need `make messages` and a Russian translation: {sorted(missing)}"


def test_pages_and_refusals_in_russian(db):
    html = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/").content.decode()
    with translation.override("ru"):
        assert translation.gettext("Regional referendums") == "Региональные референдумы"
        expected = translation.gettext("There is no such referendum.")
    assert "Региональные референдумы" in html and 'lang="ru"' in html
    response = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        "/api/v1/polls/424242/ballots", data='{"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": 1}',
        content_type="application/json",
    )
    assert response.json()["message"] == expected == "Такого референдума нет."
