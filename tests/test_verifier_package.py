"""The observers' package (issue 20): `pip install ./verifier` into a fresh virtualenv, with no
Django in it, gives `referendum-verify` and `referendum-watch`, the same modules as the app's
(tallying/verify.py and friends, linked into the package), and verifies an export the app made."""

import json
import os
import subprocess
import sys

import pytest

from tallying.services import seal_poll
from tests.exports import export_lines, write_export
from tests.factories import make_poll
from tests.sealing import cast_many
from tests.workers import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_the_package_installs_without_django_and_verifies_an_export(tmp_path):
    poll = make_poll()
    cast_many(poll, 6)
    seal_poll(poll.id)
    export = write_export(tmp_path / "poll.jsonl", export_lines(poll))
    key = json.loads(export.read_text(encoding="utf-8").splitlines()[0])["public_key"]

    venv = tmp_path / "observer"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "PYTHON", "VIRTUAL_ENV"))}
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(ROOT / "verifier")], env=env,
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    python = str(venv / "bin" / "python")
    assert subprocess.run([python, "-c", "import django"], capture_output=True, env=env).returncode == 1
    files = subprocess.run([python, "-c", "import referendum_verify.verify as v; print(v.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert files.startswith(str(venv)), files  # the installed copy, not the repository's
    with open(files, encoding="utf-8") as installed_verify:  # one implementation: the app's own module
        assert installed_verify.read() == (ROOT / "tallying" / "verify.py").read_text(encoding="utf-8")

    ok = subprocess.run([str(venv / "bin" / "referendum-verify"), str(export), "--public-key", key], env=env,
                        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("OK ") and "6 entries" in ok.stdout, ok.stdout + ok.stderr

    lines = export.read_text(encoding="utf-8").splitlines(keepends=True)
    entry = next(i for i, line in enumerate(lines) if '"type":"entry"' in line)
    record = json.loads(lines[entry])
    record["tracker_hash"] = "00" * 32
    lines[entry] = json.dumps(record, separators=(",", ":")) + "\n"
    tampered = write_export(tmp_path / "tampered.jsonl", lines)
    bad = subprocess.run([str(venv / "bin" / "referendum-verify"), str(tampered), "--public-key", key], env=env,
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert bad.returncode == 1 and f"check 45, entry 1 (line {entry + 1})" in bad.stdout, bad.stdout + bad.stderr

    watch = subprocess.run([str(venv / "bin" / "referendum-watch"), "--help"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert watch.returncode == 0 and "--dir" in watch.stdout
