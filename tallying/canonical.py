"""Canonical JSON: the one encoding of a value that is hashed or signed (docs/verification.md,
"Canonical JSON"). Standard library only: the standalone verifier and watcher use it.

- objects: members sorted by their keys, compared as sequences of Unicode code points
  ("10" < "2" < "a" < "é"); keys are strings; no key twice;
- arrays in their given order;
- strings: `"` and `\\` escaped as `\\"` and `\\\\`; U+0008, U+0009, U+000A, U+000C, U+000D as
  `\\b`, `\\t`, `\\n`, `\\f`, `\\r`; every other character below U+0020 as `\\u00xx` (lower-case
  hex); every other character as itself (no `\\u` escapes, `/` not escaped);
- numbers: integers only, in -(2**53 - 1) .. 2**53 - 1, in decimal without a plus sign, leading
  zeros, fraction or exponent; `true`, `false`, `null`;
- no whitespace outside strings; the text is encoded as UTF-8 without a byte order mark.
"""

import json

MAX_INTEGER = 2**53 - 1


class NotCanonical(ValueError):
    pass


def _check(value, path="value"):
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise NotCanonical(f"{path}: a string holds a lone surrogate") from None
        return
    if isinstance(value, int):
        if not -MAX_INTEGER <= value <= MAX_INTEGER:
            raise NotCanonical(f"{path}: the integer {value} is out of range")
        return
    if isinstance(value, float):
        raise NotCanonical(f"{path}: numbers are integers only")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check(item, f"{path}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotCanonical(f"{path}: object keys are strings")
            _check(item, f"{path}.{key}")
        return
    raise NotCanonical(f"{path}: {type(value).__name__} has no JSON form")


def canonical(value):
    """The canonical UTF-8 bytes of a JSON value made of dicts, lists, str, int, bool and None."""
    _check(value)
    # json.dumps with these options writes exactly the form above: sort_keys sorts str keys by
    # code point, ensure_ascii=False keeps characters as they are and escapes only `"`, `\` and
    # U+0000..U+001F (the five short forms, else \u00xx in lower case).
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def _no_duplicate_keys(pairs):
    keys = [key for key, _value in pairs]
    if len(set(keys)) != len(keys):
        raise NotCanonical("a key appears twice in one object")
    return dict(pairs)


def _no_float(text):
    raise NotCanonical("numbers are integers only")


def parse_canonical(text):
    """Parse a text that must be canonical JSON; raise NotCanonical if it is not exactly the
    canonical encoding of what it holds (duplicate keys, spaces, escapes, other key order, …)."""
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_float=_no_float, parse_constant=_no_float
        )
    except RecursionError:
        raise NotCanonical("nested too deeply") from None
    except json.JSONDecodeError as error:
        raise NotCanonical(f"not JSON ({error.msg})") from None
    if canonical(value).decode("utf-8") != text:
        raise NotCanonical("not in canonical form (key order, spacing or escapes)")
    return value
