"""referendum-verify: the verifier and watcher of Referendum's exports, for observers.

Standard library plus `cryptography`, no Django. The modules are the app's own
(tallying/canonical.py, ledger.py, verify.py, watch.py, linked here): one implementation, the one
docs/verification.md specifies and docs/vectors/ tests.

    referendum-verify poll-1.jsonl --public-key <hex> [--against OLD] [--json]
    referendum-watch https://vote.example.org/api/v1/polls/1 --dir observer --public-key <hex>
"""

__version__ = "2.1"
