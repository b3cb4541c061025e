"""make autograder's time estimates and README's timing table come from make bench's record
(tools/reference_times.json), not from figures written by hand."""
import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import timing  # noqa: E402

SUMMARY = {"runs": 2, "wall_s": 100.0, "cpu_s": 150.0, "largest_process_peak_mb": 1200.0,
           "stages": {"loss": {"seconds": 5.0, "peak_rss_mb": 500.0}, "e2e_vae": {"seconds": 50.0, "peak_rss_mb": 900.0},
                      "measure": {"seconds": 20.0, "peak_rss_mb": 1100.0}}}
MACHINE = {"cpus": 2, "cpu": "a test processor", "date": "2026-12-05"}


def test_the_readme_table_is_the_one_the_record_makes():
    text = timing.README.read_text()
    assert text == timing.readme_with(text, timing.load(), timing.courses()), \
        "README.md's timing table is not what tools/reference_times.json gives: run make bench ARGS=--record"


def test_every_part_of_every_course_has_a_recorded_time():
    for course in timing.courses():
        assert timing.estimate(course.names(), course.platform["cpus"]) > 0


def test_a_bench_is_folded_into_the_record_and_estimates_keep_a_margin(tmp_path):
    path = tmp_path / "times.json"
    path.write_text(json.dumps({"parts": {"vae": {"seconds": 3.0, "peak_mb": 400}, "loss": {"seconds": 1.0, "peak_mb": 1}}}))
    record = timing.recorded(SUMMARY, "some.toml", MACHINE, path)
    assert record == json.loads(path.read_text())
    assert record["parts"] == {"vae": {"seconds": 3.0, "peak_mb": 400}, "loss": {"seconds": 5.0, "peak_mb": 500},
                               "e2e_vae": {"seconds": 50.0, "peak_mb": 900}}  # measured parts replaced, others kept
    assert record["measure"] == {"seconds": 20.0, "peak_mb": 1100} and record["rest_s"] == 25.0
    assert timing.estimate(["loss", "e2e_vae"], 2, record) == pytest.approx((5 + 50 + 20 + 25) * timing.MARGIN)
    assert timing.estimate(["loss"], 1, record) == pytest.approx((5 + 20 + 25) * timing.MARGIN * timing.TWO_CORE_SPEEDUP)
    assert timing.estimate(["loss"], 0.5, record) == pytest.approx(2 * timing.estimate(["loss"], 1, record))
    assert timing.estimate(["loss"], 8, record) == timing.estimate(["loss"], 2, record)
    with pytest.raises(timing.MissingTimes, match="no time for cvae: run make bench COURSE="):
        timing.estimate(["loss", "cvae"], 2, record)
