"""nginx from Debian as the load balancer in front of several web nodes, on loopback ports of the
test's own (never the system service)."""

import shutil
import subprocess
import time
import urllib.request
from contextlib import contextmanager

from tests.servers import free_port

CONF = """
daemon off;
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 512; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  upstream nodes {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://nodes;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Proto https;
      # A node that refuses the connection is skipped; a POST already sent is never sent twice.
      proxy_next_upstream error timeout;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
    }}
  }}
}}
"""


@contextmanager
def nginx_balancer(tmp_path, node_urls):
    folder = tmp_path / "nginx"
    folder.mkdir()
    port = free_port()
    servers = "\n".join(
        f"    server {url.split('//', 1)[1]} max_fails=1 fail_timeout=3s;" for url in node_urls
    )
    (folder / "nginx.conf").write_text(CONF.format(dir=folder, servers=servers, port=port))
    process = subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(folder / "nginx.conf"),
                                "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, (folder / "error.log").read_text()
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            assert time.monotonic() < deadline, (folder / "error.log").read_text()
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        process.wait(10)
