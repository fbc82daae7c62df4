"""The build report's timings: stages listed in the order they start, total wall-clock time when stages overlap."""

from __future__ import annotations

import json

from avatar_engine.build.report import BuildReport


def test_overlapping_stages_add_up_to_more_than_the_total():
    report = BuildReport(photo="x.jpg")
    texture = report.begin("texture")
    hair = report.begin("hair")
    report.end("hair", hair, hair + 0.5)
    report.end("texture", texture, texture + 1.0)  # the texture ran beside the hair, and ended later
    later = report.begin("rig")
    report.end("rig", later, texture + 1.25)
    assert list(report.stages_s) == ["texture", "hair", "rig"]
    assert abs(report.total_s - 1.25) < 1e-3  # wall clock, first start to last end
    assert sum(report.stages_s.values()) > report.total_s
    data = json.loads(report.to_json())
    assert data["total_s"] == report.total_s and not any(k.startswith("_") for k in data)


def test_an_empty_report_took_no_time():
    assert BuildReport(photo="x.jpg").total_s == 0.0


def test_a_report_is_strict_json_even_with_nan_figures(tmp_path):
    import json
    import math

    from avatar_engine.build.report import BuildReport

    report = BuildReport(photo="p.jpg", fit={"reprojection_error": math.nan, "yaw_deg": 3.0},
                         render_check={"found": False, "mean": math.inf})
    path = tmp_path / "r.json"
    report.write(path)

    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data["fit"] == {"reprojection_error": None, "yaw_deg": 3.0} and data["render_check"]["mean"] is None
