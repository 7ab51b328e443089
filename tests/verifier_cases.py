"""Helpers for the verifier's property tests: the check vectors of docs/vectors/ (made by
docs/vectors/make_vectors.py from an export the app wrote) run through the verifier as an observer
runs it, without Django or a database."""

import json

from tests.exports import verify
from tests.workers import ROOT

VECTORS = ROOT / "docs" / "vectors"
MANIFEST = {v["file"]: v for v in json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))["vectors"]}
SAMPLE_KEY = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))["keys"]["sample"]


def vector(name):
    return VECTORS / name


def run(name, *args):
    """(exit status, output) of the verifier on a vector, trusting the keys its manifest names."""
    keys = [a for key in MANIFEST[name]["public_keys"] for a in ("--public-key", key)]
    return verify(vector(name), *keys, *args)
