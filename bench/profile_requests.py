"""Where the time of one request goes, in-process (no network, no gunicorn): cProfile over N calls of
the WSGI application for a path, with production settings; the top of the profile is printed and
written to bench/profiles/<name>.txt.

    .venv/bin/python bench/profile_requests.py /api/v1/polls/1/tally [--requests 2000] [--name tally]

Uses the bench database (ref_bench13, made by bench/run.py). For the cast path see --cast.
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def environ(path, method="GET", body=b"", headers=None):
    env = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8131", "HTTP_HOST": "127.0.0.1", "wsgi.url_scheme": "http", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    if body:
        env["CONTENT_TYPE"] = "application/json"
    env.update(headers or {})
    return env


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--name", default=None)
    parser.add_argument("--settings", default="referendum.settings")
    parser.add_argument("--sort", default="cumulative")
    args = parser.parse_args()
    from bench.run import bench_env

    os.environ.update(bench_env(DJANGO_SETTINGS_MODULE=args.settings))
    from django.core.wsgi import get_wsgi_application

    application = get_wsgi_application()

    def call():
        chunks = application(environ(args.path), lambda status, headers, exc_info=None: None)
        b"".join(chunks)
        getattr(chunks, "close", lambda: None)()

    for _ in range(50):
        call()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(args.requests):
        call()
    profiler.disable()
    per_request = (time.perf_counter() - started) / args.requests * 1000
    out = io.StringIO()
    out.write(f"{args.path} ({args.settings}): {per_request:.3f} ms per request under cProfile, "
              f"{args.requests} requests\n\n")
    pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(45)
    text = out.getvalue()
    print(text)
    if args.name:
        (ROOT / "bench" / "profiles").mkdir(exist_ok=True)
        (ROOT / "bench" / "profiles" / f"{args.name}.txt").write_text(text)


if __name__ == "__main__":
    main()
