"""The command line: help for every command, documented in the README, and `run` end to end."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import pipeline
from pipeline.cli import main
from pipeline.store import AtlasStore
from pipeline.testing import TINY

REPO = Path(__file__).resolve().parents[2]
COMMANDS = sorted(main.commands)


def test_the_cli_has_the_commands_of_the_design():
    assert set(COMMANDS) >= {"run", "extract", "build", "serve", "verify"}


def test_group_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    assert "Attention Atlas" in result.output
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", result.output, re.M), name


@pytest.mark.parametrize("name", COMMANDS, ids=COMMANDS)
def test_every_command_has_help_describing_it(name):
    command = main.commands[name]
    assert command.help and command.help.strip(), name
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert f"Usage: main {name}" in result.output
    first_line = command.help.strip().splitlines()[0]
    assert first_line in " ".join(result.output.split())  # as wrapped to the terminal
    for param in command.params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert param.help, f"{name} {param.opts[0]} has no help text"


def readme_cli_section() -> str:
    """The README's command-line reference section (from its heading to the next one)."""
    readme = REPO / "README.md"
    assert readme.is_file(), "README.md is missing"
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^(#+) .*(command line|cli\b).*$", text, re.M | re.I)
    assert match, "README.md has no 'Command line' / 'CLI' section"
    level = len(match.group(1))
    rest = text[match.end():]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


@pytest.mark.parametrize("name", COMMANDS, ids=COMMANDS)
def test_every_command_is_documented_in_the_readme(name):
    assert f"attention-atlas {name}" in readme_cli_section()


def test_python_dash_m_pipeline_and_the_console_script_work():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: python -m pipeline")
    script = Path(sys.executable).parent / "attention-atlas"
    assert script.is_file(), "the attention-atlas console script is not installed"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"attention-atlas, version {pipeline.__version__}"


class Links(HTMLParser):
    """The href of every <a> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [value for key, value in attrs if key == "href" and value]


def test_run_extracts_and_builds_the_site_end_to_end(tiny_corpus, gpt2_dir, tmp_path):
    out = tmp_path / "out"
    args = ["-q", "run", "--corpus", str(tiny_corpus), "--model", str(gpt2_dir),
            "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"extract: {len(TINY)} sentences in the store: {len(TINY)} computed")
    assert lines[1].startswith(f"stats: {len(TINY)} sentences x 1 measure(s) (attention): "
                               f"{len(TINY)} computed")
    assert (out / "site" / "heads" / "attention" / "l2h4.html").is_file()  # the corpus view
    assert lines[2].startswith("build: ") and lines[-1] == (
        f"open: {out / 'site' / 'index.html'} (works from disk), or serve: attention-atlas serve {out / 'site'}")
    store = AtlasStore.open(out / "atlas.zarr")
    assert store.ids == [item["id"] for item in TINY]
    index = out / "site" / "index.html"
    assert index.is_file()
    parser = Links()
    parser.feed(index.read_text(encoding="utf-8"))
    local = [h for h in parser.hrefs if not h.startswith(("#", "http:", "https:", "mailto:"))]
    assert local and not any(h.startswith("/") for h in local)  # relative links only
    assert all((index.parent / h.split("#")[0]).exists() for h in local)

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert f"0 computed (0.0/s), {len(TINY)} reused" in again.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_previews_a_site_over_http(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<!doctype html><title>atlas</title>", encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "serve", str(site), "--port",
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, body = time.monotonic() + 30, None
        while body is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.1)
        assert body is not None, proc.stderr.read1().decode() if proc.poll() is not None else ""
        assert "<title>atlas</title>" in body
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("make", [lambda p: p / "nothing", lambda p: p], ids=["missing", "not-a-site"])
def test_serve_refuses_what_is_not_a_built_site_saying_what_to_run(tmp_path, make):
    result = CliRunner().invoke(main, ["serve", str(make(tmp_path))])
    assert result.exit_code == 7, result.output
    assert "holds no built site" in result.output and "attention-atlas build" in result.output
    assert "serving" not in result.output  # nothing announced before the refusal


def test_quiet_works_after_the_command_name_too(tiny_corpus, gpt2_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "pipeline", "extract", "--corpus",
                             str(tiny_corpus), "--model", str(gpt2_dir), "--store",
                             str(tmp_path / "atlas.zarr"), "-q"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"extract: {len(TINY)} sentences in the store")
    assert result.stderr == ""  # no progress bar, no INFO lines


def test_without_quiet_each_summary_prints_once(gpt2_store, tmp_path):
    import shutil

    store = shutil.copytree(gpt2_store, tmp_path / "atlas.zarr")
    result = subprocess.run([sys.executable, "-m", "pipeline", "build", "--store", str(store),
                             "--site", str(tmp_path / "site")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["stats", "build"], result.stdout
    assert f"{len(TINY)} sentences" in lines[0] and f"{len(TINY)} sentences" in lines[1]
    # the progress bars, and no summary again as a log line
    assert "stats:" not in result.stderr and "built" not in result.stderr, result.stderr
