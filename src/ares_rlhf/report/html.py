"""The run report as one self-contained HTML file (``ares report RUN_DIR --html``).

The page holds everything inline (CSS, a few lines of JavaScript, plots as SVG), so it opens
offline and can be mailed or attached to a ticket. Sections have stable element ids
(:data:`SECTION_IDS`) for tests and tools. The content is collected by
:mod:`ares_rlhf.report.sections`, :mod:`ares_rlhf.report.outcomes` and
:mod:`ares_rlhf.report.environment`, drawn by :mod:`ares_rlhf.report.plots` and laid out by the
Jinja template ``templates/report.html.jinja``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ares_rlhf.run import Run

REPORT_FILE = "report.html"
TEMPLATE = "report.html.jinja"
SECTION_IDS = (
    "headline",
    "failure-map",
    "discovery",
    "attack-forms",
    "rm-repair",
    "policy-repair",
    "evaluation",
    "examples",
    "run",
)
SECTION_TITLES = {
    "headline": "Headline: before vs after",
    "failure-map": "Failure map",
    "discovery": "Discovery",
    "attack-forms": "Attack forms",
    "rm-repair": "Reward-model repair",
    "policy-repair": "Policy repair",
    "evaluation": "Evaluation",
    "examples": "Example probes",
    "run": "Run",
}


def report_context(run: Run) -> dict[str, Any]:
    """Everything the template shows, as plain data (plots already rendered to SVG)."""
    from ares_rlhf import __version__
    from ares_rlhf.report import attack_forms, environment, outcomes, sections
    from ares_rlhf.report.summary import MISSING_STAGES_KEY

    status, skipped = sections.stage_status(run)
    not_done = [
        {"name": name, "status": state, "note": skipped.get(name, "")}
        for name, state in status.items()
        if state != "done"
    ]
    missing = run.store.get_state(MISSING_STAGES_KEY) or []
    return {
        "title": f"ARES report: {run.config.name}",
        "run_dir": str(run.run_dir),
        "generated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "version": __version__,
        "sections": [{"id": i, "title": SECTION_TITLES[i]} for i in SECTION_IDS],
        "not_done": not_done,
        "missing_stages": missing,
        "headline": sections.headline(run),
        "failure_map": sections.failure_map(run),
        "discovery": sections.discovery(run),
        "attack_forms": attack_forms.section(run),
        "rm_repair": outcomes.rm_repair(run),
        "policy_repair": outcomes.policy_repair(run),
        "evaluation": outcomes.evaluation(run),
        "examples": sections.examples(run),
        "run": environment.run_info(run),
    }


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("ares_rlhf.report", "templates"),
        autoescape=select_autoescape(["html", "jinja"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html_report(run: Run) -> str:
    """The report of ``run`` as one HTML document (a string)."""
    return _environment().get_template(TEMPLATE).render(**report_context(run))


def write_html_report(run: Run, path: str | Path | None = None) -> Path:
    """Write the report (default ``RUN_DIR/report.html``) atomically; returns its path."""
    target = Path(path) if path is not None else run.run_dir / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    text = render_html_report(run)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def write_run_report(run: Run, say: Callable[[str], None] = print) -> Path | None:
    """The pipeline's last step: record this machine, write ``RUN_DIR/report.html``.

    A report that cannot be written must not cost the run its results: the failure is said in
    one line (with the command that retries it) and ``None`` returned.
    """
    from ares_rlhf.report.environment import record_environment

    say(f"writing the HTML report {run.run_dir / REPORT_FILE}")
    try:
        record_environment(run)
        return write_html_report(run)
    except Exception as error:  # the report is a view of the run; the run itself is saved
        say(
            f"HTML report not written ({type(error).__name__}: {error}); retry with: "
            f"ares report {run.run_dir} --html"
        )
        return None


__all__ = [
    "REPORT_FILE",
    "SECTION_IDS",
    "render_html_report",
    "report_context",
    "write_html_report",
    "write_run_report",
]
