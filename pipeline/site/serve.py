"""One static HTTP server for built sites: `attention-atlas serve`, the browser tests, the benchmark.

A site's links are all relative, so it works under any sub-path; the server can
mount several folders under their own sub-paths (e.g. /atlas/ and /causal/) to
prove it. Requests are logged through `logging` (DEBUG), not written to stderr.
"""

from __future__ import annotations

import http.server
import logging
import os
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import SiteError

log = logging.getLogger(__name__)

NOWHERE = "/nonexistent-atlas-path"  # what a request outside every mount translates to: a 404


class MountHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from folders mounted under URL prefixes ("/", "/atlas/"); anything else is 404."""

    mounts: Mapping[str, Path] = {}  # URL prefix -> resolved folder, longest prefix first

    def translate_path(self, path: str) -> str:
        """The file a URL path names, or NOWHERE when it lies outside every mounted folder."""
        url_path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
        for prefix, folder in self.mounts.items():
            if url_path.startswith(prefix):
                # resolve() follows `..` and links, so the check below catches every way out
                target = (folder / url_path[len(prefix):].lstrip("/")).resolve()
                if target == folder or folder in target.parents:
                    return str(target)
        return NOWHERE

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Requests go to the module's logger, not to stderr."""
        log.debug("%s - %s", self.address_string(), format % args)


def get_handler(mounts: Mapping[str, str | os.PathLike]) -> type[MountHandler]:
    """A handler class serving each folder under its URL prefix (which starts and ends with /)."""
    for prefix in mounts:
        if not (prefix.startswith("/") and prefix.endswith("/")):
            raise ValueError(f"mount prefix {prefix!r} must start and end with '/'")
    ordered = sorted(mounts, key=len, reverse=True)  # "/atlas/" before "/"
    resolved = {prefix: Path(mounts[prefix]).resolve() for prefix in ordered}
    return type("SiteHandler", (MountHandler,), {"mounts": resolved})


@dataclass(frozen=True)
class Running:
    """A server running in a background thread: its origin (http://host:port) and how to stop it."""

    origin: str
    stop: Callable[[], None]


def start(mounts: Mapping[str, str | os.PathLike], host: str = "127.0.0.1", port: int = 0) -> Running:
    """Serve folders under their prefixes in a daemon thread (port 0: any free port)."""
    server = http.server.ThreadingHTTPServer((host, port), get_handler(mounts))
    thread = threading.Thread(target=server.serve_forever, name="atlas-serve", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return Running(f"http://{host}:{server.server_address[1]}", stop)


def serve(site_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          ready: Callable[[str], None] | None = None) -> None:
    """Serve a built site at http://HOST:PORT/ until interrupted (the CLI's preview). `ready`
    is called with the site's URL once the folder is known to hold a site and the port is
    bound, so that nothing is announced before a refusal."""
    site = Path(site_dir)
    if not (site / "index.html").is_file():
        raise SiteError(f"{site} holds no built site (no index.html); run `attention-atlas build`")
    try:
        server = http.server.ThreadingHTTPServer((host, port), get_handler({"/": site}))
    except OSError as exc:
        raise SiteError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from exc
    with server:
        url = f"http://{host}:{server.server_address[1]}/"
        log.debug("serving %s at %s", site, url)
        if ready is not None:
            ready(url)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            log.info("stopped serving %s", site)
