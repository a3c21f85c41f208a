"""Configuration: atlas.toml keys, flags over the file, and every bad key or value named."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import Config, load_config
from pipeline.errors import ConfigError
from pipeline.sizes import folder_bytes, format_size, parse_size

FULL = """
corpus = "data/pairs.jsonl"
model = "gpt2"
revision = "main"
out = "public"
batch_size = 8
device = "cpu"
dtype = "float32"
domain = [0.0, 0.5]
measure_label = "attention"
on_error = "skip"
wait = 30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "atlas.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg == Config()
    assert cfg.store_path.path == Path("build/atlas.zarr") and cfg.site_path == Path("build/site")
    assert (cfg.batch_size, cfg.colour_domain, cfg.on_error) == (64, (0.0, 0.3), "raise")
    assert (cfg.measure, cfg.colour_title) == ("attention", "attention")  # the measure's defaults


def test_every_key_of_the_file_is_read(tmp_path):
    cfg = load_config(write(tmp_path, FULL))
    assert cfg == Config(corpus="data/pairs.jsonl", model="gpt2", revision="main", out="public",
                         batch_size=8, device="cpu", dtype="float32", domain=(0.0, 0.5),
                         measure_label="attention", on_error="skip", wait=30.0)
    assert cfg.store_path.path == Path("public/atlas.zarr") and cfg.site_path == Path("public/site")


def test_atlas_toml_in_the_working_folder_is_found(tmp_path, monkeypatch):
    write(tmp_path, "batch_size = 3\nstore = 'x/atlas.zarr'\nsite = 'y'\n")
    monkeypatch.chdir(tmp_path)
    cfg = load_config()
    assert cfg.batch_size == 3
    assert cfg.store_path.path == Path("x/atlas.zarr") and cfg.site_path == Path("y")


def test_flags_override_the_file_and_absent_flags_do_not(tmp_path):
    cfg = load_config(write(tmp_path, FULL), {"batch_size": 2, "domain": (0.1, 0.2),
                                              "model": None, "on_error": None})
    assert (cfg.batch_size, cfg.domain) == (2, (0.1, 0.2))
    assert (cfg.model, cfg.on_error) == ("gpt2", "skip")


def test_a_fitted_domain_is_for_figures_and_leaves_the_site_the_measures(tmp_path):
    cfg = load_config(write(tmp_path, 'domain = "fit"\nmeasure = "rollout"\n'))
    assert (cfg.domain, cfg.colour_domain) == ("fit", (0.0, 0.6))  # the site: rollout's fixed one


def test_an_unknown_key_is_named_with_the_valid_ones(tmp_path):
    path = write(tmp_path, "batch_size = 4\nbatchsize = 4\n")
    with pytest.raises(ConfigError, match=r"unknown key 'batchsize'; valid keys: .*batch_size"):
        load_config(path)


BAD_VALUES = [
    ("batch_size", "0", 0),
    ("batch_size", '"8"', "8"),
    ("domain", "[0.5, 0.1]", [0.5, 0.1]),
    ("domain", "[0.0, 1.5]", [0.0, 1.5]),
    ("domain", '"fitted"', "fitted"),
    ("device", '"gpu"', "gpu"),
    ("dtype", '"int8"', "int8"),
    ("on_error", '"ignore"', "ignore"),
    ("wait", "-1", -1),
    ("out", '""', ""),
]
BAD_IDS = ["batch_size-0", "batch_size-string", "domain-inverted", "domain-above-1",
           "domain-a-word", "device-gpu",
           "dtype-int8", "on_error-ignore", "wait-negative", "out-empty"]


@pytest.mark.parametrize(("key", "toml", "value"), BAD_VALUES, ids=BAD_IDS)
def test_a_bad_value_in_the_file_is_named(tmp_path, key, toml, value):
    path = write(tmp_path, f"{key} = {toml}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message.startswith(f"{path}: {key} = ")
    assert "is not valid: expected" in info.value.message


@pytest.mark.parametrize(("key", "toml", "value"), BAD_VALUES, ids=BAD_IDS)
def test_a_bad_flag_value_is_named(tmp_path, monkeypatch, key, toml, value):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=f"--{key.replace('_', '-')}: {key} = "):
        load_config(None, {key: value})


def test_invalid_toml_and_a_missing_config_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "batch_size = = 3\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(("args", "message"), [
    (["--batch-size", "0"], "--batch-size: batch_size = 0 is not valid"),
    (["--device", "gpu"], "--device: device = 'gpu' is not valid"),
    (["--on-error", "ignore"], "Invalid value for '--on-error'"),
    (["--dtype", "int8"], "Invalid value for '--dtype'"),
], ids=["batch-size-0", "device-gpu", "on-error-ignore", "dtype-int8"])
def test_bad_flags_exit_2_through_the_cli(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["extract", "--corpus", "c.txt", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_the_cli_reads_the_config_file_and_names_its_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, 'domain = [0.5, 0.1]\n')
    result = CliRunner().invoke(main, ["build"])
    assert result.exit_code == 2, result.output
    assert "atlas.toml: domain = [0.5, 0.1] is not valid" in result.output
    other = tmp_path / "other.toml"
    other.write_text("colour = 'red'\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--config", str(other), "build"])
    assert result.exit_code == 2 and "unknown key 'colour'" in result.output, result.output


@pytest.mark.parametrize(("value", "size"), [
    ("1GB", 10**9), ("500MB", 500 * 10**6), ("2.5GiB", 5 * 2**29), ("750kB", 750_000),
    ("1 gb", 10**9), (" 3 MiB ", 3 * 2**20), ("123456", 123_456), (123_456, 123_456),
    ("2B", 2), ("1.0000001kB", 1000), (".5MB", 500_000),
])
def test_a_site_size_reads_decimal_and_binary_units(value, size):
    assert parse_size(value) == size
    assert load_config(None, {"max_site_bytes": value}).max_site_bytes == size


@pytest.mark.parametrize(("value", "why"), [
    ("1XB", "unknown unit 'XB'"), ("1.5", "a number of bytes is a whole number"),
    ("-1GB", "expected a size such as 1GB"), ("1e9", "expected a size such as 1GB"),
    ("", "expected a size such as 1GB"), ("GB", "expected a size such as 1GB"),
    (0, "at least 1 byte"), ("0.0001B", "a number of bytes is a whole number"),
    (True, "expected a size"), (1.5, "expected a size"), (None, "expected a size"),
])
def test_a_bad_site_size_is_named_with_why(tmp_path, value, why):
    with pytest.raises(ConfigError, match=f"^{value!r} is not a size: .*{why}"):
        parse_size(value)
    if value is not None:
        with pytest.raises(ConfigError, match=f"--max-site-bytes: max_site_bytes = .* is not valid: .*{why}"):
            load_config(None, {"max_site_bytes": value})


def test_the_site_size_defaults_to_github_pages_limit_and_reads_the_file_and_the_flag(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Config().max_site_bytes == load_config().max_site_bytes == 10**9
    assert format_size(10**9) == "1 GB" and format_size(5 * 2**29) == "2.68 GB"
    assert format_size(999) == "999 B" and format_size(1_500_000) == "1.5 MB"
    path = write(tmp_path, 'max_site_bytes = "250MB"\n')
    assert load_config(path).max_site_bytes == 250 * 10**6
    assert load_config(path, {"max_site_bytes": "1KiB"}).max_site_bytes == 1024
    path = write(tmp_path, "max_site_bytes = 1000\n")
    assert load_config(path).max_site_bytes == 1000
    path = write(tmp_path, 'max_site_bytes = "12 parsecs"\n')
    with pytest.raises(ConfigError, match=r"atlas.toml: max_site_bytes = '12 parsecs' is not "
                                          r"valid: unknown unit 'parsecs'"):
        load_config(path)


def test_the_site_size_flag_is_offered_by_build_and_run_and_checked():
    for command in ("build", "run"):
        result = CliRunner().invoke(main, [command, "--help"])
        assert "--max-site-bytes SIZE" in result.output and "[default: 1GB]" in result.output
    result = CliRunner().invoke(main, ["build", "--max-site-bytes", "1ZB"])
    assert result.exit_code == 2, result.output
    assert "--max-site-bytes: max_site_bytes = '1ZB' is not valid: unknown unit 'ZB'" in result.output


def test_folder_bytes_counts_every_file_below_a_folder(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 3)
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "b").write_bytes(b"y" * 1000)
    (tmp_path / "empty").mkdir()
    assert folder_bytes(tmp_path) == 1003 and folder_bytes(str(tmp_path / "sub")) == 1000
    assert folder_bytes(tmp_path / "empty") == 0
