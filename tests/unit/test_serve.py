"""The static server (pipeline/site/serve.py): mounts under sub-paths, nothing outside them, quiet logs."""

from __future__ import annotations

import http.server
import logging
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from pipeline.errors import SiteError
from pipeline.site.serve import get_handler, serve, start


def fetch(url: str) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def folders(tmp_path) -> dict[str, Path]:
    """Two small sites and a secret beside them."""
    for name in ("one", "two"):
        (tmp_path / name / "sentences").mkdir(parents=True)
        (tmp_path / name / "index.html").write_text(f"<title>{name}</title>")
        (tmp_path / name / "sentences" / "a b.html").write_text(f"{name}: a b")
    (tmp_path / "secret.txt").write_text("secret")
    (tmp_path / "one" / "link.txt").symlink_to(tmp_path / "secret.txt")
    return {"one": tmp_path / "one", "two": tmp_path / "two"}


def test_mounts_serve_each_folder_under_its_prefix(folders):
    server = start({"/": folders["one"], "/two/": folders["two"]})
    try:
        assert fetch(f"{server.origin}/index.html") == (200, b"<title>one</title>")
        assert fetch(f"{server.origin}/") == (200, b"<title>one</title>")  # a folder's index.html
        assert fetch(f"{server.origin}/two/index.html") == (200, b"<title>two</title>")
        assert fetch(f"{server.origin}/two/sentences/a%20b.html") == (200, b"two: a b")
    finally:
        server.stop()


@pytest.mark.parametrize("path", ["/../secret.txt", "/%2e%2e/secret.txt", "//etc/passwd",
                                  "/link.txt", "/atlas/index.html"])
def test_nothing_outside_the_mounts_is_served(folders, path):
    server = start({"/": folders["one"]} if path != "/atlas/index.html" else {"/other/": folders["one"]})
    try:
        assert fetch(server.origin + path)[0] == 404
    finally:
        server.stop()


def test_mount_prefixes_must_be_folders():
    with pytest.raises(ValueError, match="must start and end with '/'"):
        get_handler({"/atlas": Path(".")})


def test_requests_are_logged_not_printed(folders, caplog, capfd):
    server = start({"/": folders["one"]})
    with caplog.at_level(logging.DEBUG, logger="pipeline.site.serve"):
        fetch(f"{server.origin}/index.html")
        server.stop()
    assert any("GET /index.html" in r.getMessage() for r in caplog.records)
    assert capfd.readouterr().err == ""


def test_serve_refuses_a_folder_without_a_site(tmp_path):
    with pytest.raises(SiteError, match="no built site"):
        serve(tmp_path)


def test_serve_serves_the_site(folders, monkeypatch):
    fetched = []

    def one_request(self):  # answer one request, then stop as Ctrl+C would
        url = f"http://127.0.0.1:{self.server_address[1]}/index.html"
        client = threading.Thread(target=lambda: fetched.append(fetch(url)))
        client.start()
        self.handle_request()
        client.join(timeout=10)
        raise KeyboardInterrupt

    monkeypatch.setattr(http.server.ThreadingHTTPServer, "serve_forever", one_request)
    serve(folders["one"], port=0)
    assert fetched == [(200, b"<title>one</title>")]
