"""Figures of issue 18 for `make bench`: the public side read from a static mirror against the
origin, and casting through a load balancer (nginx) in front of one web node and of two.

The mirror is the real signed bundle (tallying/mirrors.py, `manage.py build_mirror --no-push`)
served by nginx as a static folder, as an operator or a volunteer would host it. The balancer is
nginx with an upstream of one, then two, gunicorn nodes of the application (same settings as the
bench's own). On one machine the nodes share its cores, so the second node shows what a balancer
costs and that nothing breaks, not what a second machine adds."""

import shutil
import subprocess
import time
from pathlib import Path

NGINX_STATIC = """
daemon off;
user root;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  include /etc/nginx/mime.types;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  {upstream}
  server {{
    listen 127.0.0.1:{port};
    {location}
  }}
}}
"""


def nginx(folder, port, upstream="", location=""):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(NGINX_STATIC.format(dir=folder, port=port, upstream=upstream, location=location))
    return subprocess.Popen([shutil.which("nginx") or "/usr/sbin/nginx", "-c", str(folder / "nginx.conf"),
                             "-p", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def static_mirror(folder, bundle, port):
    return nginx(folder, port, location=f"root {bundle}; location / {{ try_files $uri $uri/index.html =404; }}")


def balancer(folder, port, node_ports):
    servers = " ".join(f"server 127.0.0.1:{p};" for p in node_ports)
    return nginx(folder, port, upstream=f"upstream nodes {{ {servers} keepalive 32; }}",
                 location="location / { proxy_pass http://nodes; proxy_http_version 1.1;"
                          " proxy_set_header Connection \"\"; proxy_set_header Host $host; }")


def stop(process):
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_up(wait_http, url):
    wait_http(url)
    time.sleep(0.2)
