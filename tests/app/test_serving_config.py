"""What the shipped serving configuration promises (issue 20, finding 5): no error details in the browser, and the
README's reverse-proxy block sends the headers that keep the app out of other sites' frames and stop MIME sniffing.

The proxy block is also run, where nginx is installed: the README's server block, with TLS swapped for a plain
local port, in front of a stub backend; every response, an error one included, must carry the headers."""
from __future__ import annotations

import http.server
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def test_error_details_are_off_for_users():
    """Finding: `client.showErrorDetails` was `full`, so a crash showed server paths and code in the browser."""
    shipped = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert shipped["client"]["showErrorDetails"] == "none"
    assert shipped["server"]["address"] == "127.0.0.1"
    # and Streamlit, started from the project folder as `make run` does, reads it so
    read = subprocess.run([sys.executable, "-c", "from streamlit import config; config.get_config_options("
                           "force_reparse=True); print(config.get_option('client.showErrorDetails'))"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert read.stdout.strip().splitlines()[-1] == "none", read.stderr


def proxy_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (block,) = re.findall(r"```nginx\n(.*?)```", readme, flags=re.S)
    return block


def test_readme_proxy_block_sets_the_security_headers():
    """Finding: no X-Frame-Options or Content-Security-Policy header."""
    block = proxy_block()
    for name, value in HEADERS.items():
        assert re.search(rf'add_header {name} "{re.escape(value)}" always;', block), name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Stub(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"stub app"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)")
def test_readme_proxy_block_sends_the_headers_through_nginx(tmp_path):
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = free_port()
    server = proxy_block()
    server = re.sub(r"listen 443 ssl;", f"listen 127.0.0.1:{port};", server)
    server = re.sub(r"\n\s*ssl_certificate(_key)?\s+[^\n]*", "", server)
    server = server.replace("http://127.0.0.1:8501", f"http://127.0.0.1:{backend.server_address[1]}")
    temp = "".join(f"{k}_temp_path {tmp_path}/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                    f"events {{}}\nhttp {{\naccess_log off;\n{temp}{server}\n}}\n")
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(tmp_path)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                assert nginx.poll() is None, nginx.stderr.read().decode()
                time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:   # what curl -I shows
            assert r.read() == b"stub app"
            for name, value in HEADERS.items():
                assert r.headers[name] == value, (name, dict(r.headers))
        backend.shutdown()
        backend.server_close()
        with pytest.raises(urllib.error.HTTPError) as bad:                          # 502: the app is down
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10)
        assert bad.value.code == 502
        for name, value in HEADERS.items():
            assert bad.value.headers[name] == value, name
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
