"""The SVG chart functions alone: valid XML, accessible, escaped, and drawing the numbers given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from crashbot_status import charts

SVG = "{http://www.w3.org/2000/svg}"


def drawings(markup: str) -> list[ET.Element]:
    """Every ``<svg>`` in a chart's markup (the wide drawing, then the narrow one)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg.*?</svg>", markup, flags=re.S)]


def parse(markup: str) -> ET.Element:
    """The wide drawing."""
    wide, narrow = drawings(markup)
    assert "chart-wide" in wide.get("class", "") and "chart-narrow" in narrow.get("class", "")
    return wide


def axis_numbers(root: ET.Element) -> list[float]:
    texts = [t for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    return [float(t.text or "nan") for t in texts]


def test_line_chart_is_an_accessible_image_with_title_and_description() -> None:
    svg = charts.line_chart(
        "Time to acknowledge",
        "Mean per month",
        ["2026-01", "2026-02", "2026-03"],
        [("MTTA mean", [60.0, None, 750.0])],
        ident="t1",
    )
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "t1-title t1-desc"
    assert root.find(f"{SVG}title").text == "Time to acknowledge"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "Mean per month"  # type: ignore[union-attr]
    # Two points, a gap for the month without a value, and tooltips with units.
    tips = [t.text for t in root.iter(f"{SVG}title")][1:]
    assert "MTTA mean, 2026-01: 1m" in tips
    assert "MTTA mean, 2026-03: 12m 30s" in tips
    assert not list(root.iter(f"{SVG}polyline"))  # no two neighbours to join
    assert "<script" not in svg and "style=" not in svg


def test_line_chart_joins_consecutive_points_and_labels_the_axis_in_durations() -> None:
    svg = charts.line_chart(
        "t", "d", ["a", "b", "c"], [("MTTR", [3600.0, 7200.0, 5400.0])], ident="t2"
    )
    root = parse(svg)
    (line,) = root.iter(f"{SVG}polyline")
    assert len(line.get("points", "").split()) == 3
    axis = [t.text for t in root.iter(f"{SVG}text")]
    assert "2h" in axis and "0s" in axis


def test_bar_chart_stacks_one_segment_per_nonzero_count_with_the_policy_colours() -> None:
    svg = charts.bar_chart(
        "Incidents",
        "per severity",
        ["2026-01", "2026-02"],
        [("SEV1", [1, 0]), ("SEV2", [2, 3])],
        colors=["#d1242f", "red;evil"],
        ident="b",
    )
    root = parse(svg)
    rects = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert [r.find(f"{SVG}title").text for r in rects] == [  # type: ignore[union-attr]
        "2026-01, SEV1: 1",
        "2026-01, SEV2: 2",
        "2026-02, SEV2: 3",
    ]
    assert rects[0].get("fill") == "#d1242f"
    # Not a colour: the palette's, never the text given.
    assert rects[1].get("fill") == charts.PALETTE[1]
    assert "evil" not in svg
    # Segments stack: the second bar's top is above the first segment's.
    assert float(rects[1].get("y", 0)) < float(rects[0].get("y", 0))


def test_empty_data_says_so_instead_of_drawing_nothing() -> None:
    for svg in (
        charts.line_chart("t", "d", ["2026-01"], [("MTTA", [None])]),
        charts.bar_chart("t", "d", ["2026-01"], [("SEV1", [0])]),
    ):
        for root in drawings(svg):
            assert "No incidents in this period" in [t.text for t in root.iter(f"{SVG}text")]


@given(name=st.text(max_size=40), title=st.text(max_size=40))
def test_any_text_is_escaped_and_the_svg_stays_well_formed(name: str, title: str) -> None:
    # XML 1.0 cannot carry most control characters at all; the page never has them.
    name = "".join(ch for ch in name if ch.isprintable())
    title = "".join(ch for ch in title if ch.isprintable())
    for svg in (
        charts.line_chart(title, title, [name, "x"], [(name, [1.0, 2.0])]),
        charts.bar_chart(title, title, [name], [(name, [3])]),
    ):
        for root in drawings(svg):
            assert root.find(f"{SVG}title").text == (title or None)  # type: ignore[union-attr]
            assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))


def test_nice_ceiling_rounds_up_to_a_readable_axis_maximum() -> None:
    assert [charts.nice_ceiling(v) for v in (0, 0.7, 3, 7, 11, 240)] == [1, 1, 5, 10, 20, 250]


def test_count_axes_have_whole_numbers_at_every_tick() -> None:
    # Regression: three incidents in a month drew ticks at 1.25, 2.5 and 3.75.
    for largest in (1, 2, 3, 5, 6, 7, 11, 13, 26, 99, 101, 1234):
        top, ticks = charts.count_axis(largest)
        assert top >= largest and 1 <= ticks <= 5
        assert top % ticks == 0
    svg = charts.bar_chart("t", "d", ["2026-01", "2026-02"], [("SEV1", [3, 2])])
    for root in drawings(svg):
        numbers = axis_numbers(root)
        assert numbers == [0, 1, 2, 3] and all(n == int(n) for n in numbers)


@given(counts=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=36))
def test_bar_chart_axis_labels_are_whole_numbers_covering_the_tallest_bar(
    counts: list[int],
) -> None:
    labels = [f"m{i}" for i in range(len(counts))]
    for root in drawings(charts.bar_chart("t", "d", labels, [("SEV1", counts)])):
        numbers = axis_numbers(root)
        if not any(counts):
            assert numbers == []
            continue
        assert all(n == int(n) for n in numbers) and max(numbers) >= max(counts)


def test_the_narrow_drawing_keeps_its_text_readable_on_a_phone() -> None:
    months = [f"2026-{m:02d}" for m in range(1, 13)] + [f"2027-{m:02d}" for m in range(1, 13)]
    svg = charts.line_chart(
        "t", "d", months, [("MTTA mean", [60.0] * 24), ("MTTA median", [30.0] * 24)], ident="x"
    )
    wide, narrow = drawings(svg)
    width = float(narrow.get("viewBox", "").split()[2])
    # Shown about 1:1 on a 360-390 px screen: 13 px text stays 13 px.
    assert width <= 390 and int(narrow.get("font-size", "0")) >= 12
    month_labels = [t.text for t in narrow.iter(f"{SVG}text") if (t.text or "").startswith("202")]
    assert 2 <= len(month_labels) <= 4
    # Legend entries stay inside the drawing (they wrap instead).
    for rect in narrow.iter(f"{SVG}rect"):
        assert float(rect.get("x", "0")) + 10 <= width
    # The two drawings have distinct ids, so aria-labelledby stays unambiguous.
    assert wide.get("aria-labelledby") != narrow.get("aria-labelledby")
