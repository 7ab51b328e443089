# Gunicorn settings. The access log never records the client address or user agent, nor the
# response size (a page that echoes an answer would give it away; ballots/blind.py pads them, the
# log must not depend on it) nor the query string (ledger pages linked from a receipt lookup).
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
timeout = 30
graceful_timeout = 20
accesslog = "-"
access_log_format = '"%(m)s %(U)s %(H)s" %(s)s %(M)sms'
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Prometheus multiprocess mode: each worker's counters go to files that /metrics adds up.
from referendum.multiproc import child_exit, on_exit, on_starting  # noqa: E402, F401
