"""The benchmarks (bench/, run by `nox -s bench`) import what they use: a refactor that moves a
helper breaks them here, not at the end of a long benchmark run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_a_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location(f"_bench_{script[:-3]}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # the imports and definitions; main() is not called
    assert callable(module.main)


def test_the_series_site_benchmark_runs_on_a_small_series(monkeypatch, capsys):
    """bench_series_site.py end to end, in this process, on 40 sentences, 3 tiny checkpoints and
    one limit: its tables, every site within its limit (the script asserts it), and the
    100,000 x 20 plan."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr("sys.argv", ["bench_series_site.py", "--sentences", "40", "--checkpoints",
                                     "3", "--layers", "2", "--heads", "2", "--percents", "50"])
    spec = importlib.util.spec_from_file_location("_bench_series_site_small",
                                                  BENCH / "bench_series_site.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import logging

    from pipeline.site import series_plan

    def state():  # what main changes while it runs, and must put back in a program it runs in
        return (logging.getLogger("pipeline").level, series_plan.plan_checkpoints,
                series_plan.measure_costs)

    before = state()
    module.main()
    assert state() == before
    out = capsys.readouterr().out
    assert "step-100 of 3 checkpoints (step-0, step-10, step-100)" in out
    assert "3/3: step-0, step-10, step-100" in out  # no limit: every checkpoint
    assert len([line for line in out.splitlines() if "/3: " in line]) >= 2  # none, and 50 %
    assert "20 checkpoints (steps 0 to 100,000, log-spaced) x 100,000 sentences" in out
    assert "sentence data:" in out and "statistics: all 20 checkpoints" in out


def test_the_series_benchmark_runs_in_its_quick_mode(monkeypatch, capsys):
    """bench_series.py --quick: C = 1 and 2 on 20 sentences; the second series run computes the
    new checkpoint's store alone and reuses the first."""
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setattr("sys.argv", ["bench_series.py", "--quick"])
    spec = importlib.util.spec_from_file_location("_bench_series_quick", BENCH / "bench_series.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main()
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[2:]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert rows[0][5:] == ["20", "in", "the", "new", "store,", "0", "of", "0", "others", "reused"]
    assert rows[1][5:] == ["20", "in", "the", "new", "store,", "1", "of", "1", "others", "reused"]
