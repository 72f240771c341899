"""The per-step profile of one load at a tiny size, so that it cannot rot: figures are produced, not how fast."""

from pipelines.bench.steps import measure


def test_steps_profile_reports_every_step():
    result = measure(2_000)
    for step in ("extract", "normalize", "load", "no-change re-run"):
        assert result[f"{step} s"] >= result[f"{step} cpu s"] / 2 >= 0, step
        assert result[f"peak rss mb after {step}"] > 0
    assert result["extract cpu s"] > 0
