"""MIRROR_TARGETS, parsed (standard library only: settings.py checks it at start-up)."""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Target:
    """A place the bundle is pushed to: a local folder (file:///path) or S3-compatible storage
    (s3://bucket/prefix?endpoint=https://…&region=…)."""

    name: str
    url: str

    @property
    def kind(self):
        return urlsplit(self.url).scheme


def parse_targets(value):
    """MIRROR_TARGETS: comma-separated `name=url` (the name is the label on /metrics)."""
    targets = []
    for item in (value or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, url = item.partition("=")
        name, url = name.strip(), url.strip()
        if not sep or not re.fullmatch(r"[a-z0-9_-]{1,40}", name) or urlsplit(url).scheme not in ("file", "s3"):
            raise ValueError(
                f"MIRROR_TARGETS: {item!r} is not name=file:///path or name=s3://bucket/prefix "
                "(names: lower-case letters, digits, - and _)"
            )
        if any(t.name == name for t in targets):
            raise ValueError(f"MIRROR_TARGETS: the name {name!r} appears twice")
        targets.append(Target(name, url))
    return targets
