"""The self-contained HTML report: written by the pipeline, by ``ares report --html``, and for
runs that lack stages; sections, plots, rates with counts and intervals, no network."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ares_rlhf.cli import main
from ares_rlhf.records import ArtifactKind
from ares_rlhf.report.environment import ENVIRONMENTS_KEY
from ares_rlhf.report.html import REPORT_FILE, SECTION_IDS, render_html_report, write_run_report
from ares_rlhf.report.sections import MAP_PAIRS
from ares_rlhf.run import Run

RATE_WITH_COUNT_AND_CI = re.compile(r"\d+/\d+ &middot; \[\d+\.\d, \d+\.\d\]")


class Page(HTMLParser):
    """Element ids, the section each element sits in, ``<details>`` and ``<svg>`` counts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.ids: dict[str, str | None] = {}
        self.section: str | None = None
        self.tags: list[tuple[str, dict[str, str | None], str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.section = attributes.get("id")
        if attributes.get("id"):
            self.ids[attributes["id"]] = self.section
        self.tags.append((tag, attributes, self.section))

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.section = None

    def count(self, tag: str, section: str | None = None, **attributes: str) -> int:
        return sum(
            1
            for name, attrs, where in self.tags
            if name == tag
            and (section is None or where == section)
            and all(attrs.get(k) == v for k, v in attributes.items())
        )


def section_text(text: str, section: str) -> str:
    start = text.index(f'<section id="{section}">')
    return text[start : text.index("</section>", start)]


def test_the_pipeline_writes_a_report_with_every_section_and_plot(full_run) -> None:
    run_dir, messages = full_run
    path = run_dir / REPORT_FILE
    assert path.is_file()
    assert any("writing the HTML report" in m for m in messages)
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    for section in SECTION_IDS:
        assert section in page.ids, section
    expected_plots = {
        "failure-map": [f"plot-failure-map-{a}-{b}" for a, b in MAP_PAIRS],
        "discovery": ["plot-discovery-curve", "plot-search-allocation"],
        "rm-repair": ["plot-rm-margins-probes", "plot-rm-margins-sets"],
        "policy-repair": ["plot-policy-training"],
    }
    for section, plot_ids in expected_plots.items():
        for plot_id in plot_ids:
            assert page.ids.get(plot_id) == section, plot_id
        assert page.count("svg", section) >= len(plot_ids)
    # a complete run names no missing stage
    assert "stages-not-done" not in page.ids
    assert 'class="missing"' not in section_text(text, "headline")


def test_the_report_is_self_contained(full_run) -> None:
    text = (full_run[0] / REPORT_FILE).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    assert not re.search(r"<script[^>]+src=", text)
    assert "<style>" in text


def test_headline_rates_carry_counts_and_intervals_from_the_store(full_run) -> None:
    run_dir, _ = full_run
    text = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    headline = section_text(text, "headline")
    rates = re.findall(r'<span class="rate">([^<]+)</span>(<span class="sub">[^<]*</span>)?', headline)
    assert rates and all(sub and RATE_WITH_COUNT_AND_CI.search(sub) for value, sub in rates if value != "-")
    with Run.open(run_dir) as run:
        evaluation = run.latest(ArtifactKind.EVAL_METRICS).data
        total = run.store.count_probes("discovery")
        counts = run.store.failure_counts("discovery")
    pair = evaluation["heldout"]["heldout"]["AC"]
    before, after = pair["before"], pair["after"]
    assert f"{before['k']}/{before['n']} &middot;" in headline
    assert f"{after['k']}/{after['n']} &middot;" in headline
    assert f"{counts.get('C', 0)}/{total} &middot;" in headline


def test_examples_are_collapsed_and_labelled_as_red_team_content(full_run) -> None:
    text = (full_run[0] / REPORT_FILE).read_text(encoding="utf-8")
    examples = section_text(text, "examples")
    assert "Red-team content" in examples
    page = Page(text)
    shown = [attrs for tag, attrs, where in page.tags if tag == "details" and where == "examples"]
    assert shown and all("open" not in attrs for attrs in shown)
    with Run.open(full_run[0]) as run:
        failing = [p for p in run.store.probes("discovery") if p.failure_type.value in "ABC"]
    assert failing and any(p.id in examples for p in failing)


def test_the_pipeline_records_the_machine_and_versions(full_run) -> None:
    with Run.open(full_run[0]) as run:
        environments = run.store.get_state(ENVIRONMENTS_KEY)
    assert environments and environments[-1]["packages"]["ares-rlhf"]
    assert environments[-1]["cpus"] >= 1
    text = (full_run[0] / REPORT_FILE).read_text(encoding="utf-8")
    assert environments[-1]["platform"] in section_text(text, "run")


def test_a_run_missing_stages_still_renders_and_says_what_is_missing(discovery_only_run) -> None:
    with Run.open(discovery_only_run) as run:
        text = render_html_report(run)
    page = Page(text)
    for section in SECTION_IDS:
        assert section in page.ids, section
    assert "plot-discovery-curve" in page.ids
    rm = section_text(text, "rm-repair")
    assert 'class="missing"' in rm and "repair rm stage has not run" in rm
    assert "policy repair" in section_text(text, "policy-repair")
    assert 'class="missing"' in section_text(text, "evaluation")
    # without verification the failure map shows the original system (discovery) only
    failure_map = section_text(text, "failure-map")
    assert "original system (discovery)" in failure_map and "after-repair map" in failure_map


def test_a_skipped_stage_is_named_with_its_reason(tmp_path: Path, make_run) -> None:
    from ares_rlhf.pipeline import stage_repair_rm

    run_dir = make_run(tmp_path / "run", {"repair_rm": stage_repair_rm})
    text = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert "stages-not-done" in Page(text).ids
    assert "repair rm stage was skipped (discovery found no failures" in section_text(text, "rm-repair")


def test_ares_report_html_writes_the_report(full_run, tmp_path: Path, capsys) -> None:
    run_dir, _ = full_run
    target = tmp_path / "shared" / "page.html"
    assert main(["report", str(run_dir), "--html", str(target)]) == 0
    assert f"HTML report: {target}" in capsys.readouterr().out
    assert "failure-map" in Page(target.read_text(encoding="utf-8")).ids
    assert main(["report", str(run_dir), "--json", "--html", str(tmp_path / "b.html")]) == 0
    captured = capsys.readouterr()
    assert captured.out.lstrip().startswith("{") and "HTML report" in captured.err


def test_a_report_that_cannot_be_written_is_said_not_raised(
    discovery_only_run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ares_rlhf.report.html as html

    def broken(run, path=None):
        raise OSError("disk full")

    monkeypatch.setattr(html, "write_html_report", broken)
    said: list[str] = []
    with Run.open(discovery_only_run, writer=True) as run:
        assert write_run_report(run, said.append) is None
    assert "HTML report not written (OSError: disk full)" in said[-1]
    assert f"ares report {discovery_only_run} --html" in said[-1]
