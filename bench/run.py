"""Run the benchmarks, print the figures and write them to docs/benchmarks.md.

python -m bench.run                      # every section, a few minutes
python -m bench.run --only poll          # one section; the file keeps the others as they were
python -m bench.run --no-write           # print only

Sections: ``normaliser`` (bench/normaliser.py), ``fetch`` (bench/fetch.py), ``store``
(bench/store.py), ``poll`` (bench/poll.py) and ``delivery`` (bench/delivery.py). Each section
of the file carries its figures, its targets with a met/missed verdict each, when it was
measured and on what machine. Each runs in a fresh interpreter, as the monitor does: what one
section leaves in memory (the normaliser's gazetteer and memo: 100,000 objects) would otherwise
lengthen the garbage collections the next one measures.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "benchmarks.md"
SECTIONS = ("normaliser", "fetch", "store", "poll", "delivery")
TARGET_ITEMS_PER_SECOND = 2000
_BLOCK = re.compile(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->\n", re.DOTALL)


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def normaliser_section() -> str:
    from bench import normaliser

    result = normaliser.run()
    ratio = result.normalise_seconds / result.parse_seconds
    rate_met = result.normalise_rate >= TARGET_ITEMS_PER_SECOND
    lines = [
        "## Normaliser throughput",
        "",
        f"Generated feed: {result.items:,} items, {result.feed_bytes / 1024:,.0f} KiB "
        "(~1 KB HTML bodies: embassy alerts and news reports relaying advice). Best of 3 runs, "
        "one core, in-process.",
        "",
        "| step | seconds | items/s |",
        "| --- | ---: | ---: |",
        f"| feedparser parse alone | {result.parse_seconds:.3f} | {result.parse_rate:,.0f} |",
        f"| normaliser alone (after parsing) | {result.normalise_seconds:.3f} | "
        f"{result.normalise_rate:,.0f} |",
        f"| normaliser, sentence memo emptied before every item | {result.cold_seconds:.3f} | "
        f"{result.cold_rate:,.0f} |",
        "",
        "The normaliser memoises what each sentence says (places, advice, levels, dates): the",
        'boilerplate of a feed (an embassy\'s "Actions to Take" bullets, its assistance block)',
        "recurs in item after item. The generated alerts draw their bullets from a pool of ten,",
        "as real ones do; every event and news sentence is unique. The third row shows the cost",
        "when nothing is remembered from earlier items.",
        "",
        "| target | this run | verdict |",
        "| --- | ---: | --- |",
        f"| normaliser alone >= {TARGET_ITEMS_PER_SECOND:,} items/s on one core | "
        f"{result.normalise_rate:,.0f} items/s | {_verdict(rate_met)} |",
        f"| normaliser cheaper than feedparser's parse (time ratio < 1) | {ratio:.2f} | "
        f"{_verdict(ratio < 1)} |",
        "",
    ]
    return "\n".join(lines)


def fetch_section() -> str:
    from bench import fetch

    result = fetch.run()
    lines = [fetch.markdown(result), "| target (Fetcher, default layout) | ratio | verdict |"]
    lines.append("| --- | ---: | --- |")
    for scenario, target in result["targets"].items():
        cpu, rate = target["cpu_ratio"], target["throughput_ratio"]
        lines += [
            f"| {scenario}: CPU/poll <= {fetch.TARGET_CPU_RATIO}x the bare loop | {cpu:.2f}x | "
            f"{_verdict(cpu <= fetch.TARGET_CPU_RATIO)} |",
            f"| {scenario}: throughput >= {fetch.TARGET_THROUGHPUT_RATIO}x the bare loop | "
            f"{rate:.2f}x | {_verdict(rate >= fetch.TARGET_THROUGHPUT_RATIO)} |",
        ]
    lines.append("")
    return "\n".join(lines)


def store_section() -> str:
    from bench import store

    result = store.run()
    target = result["target_ratio"]
    lines = [
        "## Compare-and-emit: `Store.emit` beside the raw pipelined Lua call",
        "",
        f"`bench/store.py`: {result['n']:,} advisories (~1.5 KB of JSON each) in feeds of "
        f"{result['batch']}, on {result['server']}; every figure the best of 3 runs on fresh "
        "keys. *Raw* sends the very same `EVALSHA` calls, built before the clock starts, "
        "through a bare redis-py pipeline; the ratio is the cost of `Store.emit`'s Python "
        "work (serialising, event fields, reading replies into outcomes).",
        "",
        "| pass | Store.emit advisories/s | raw Lua advisories/s | emit / raw | target | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for phase, label in (("new", "all new (a version and an event each)"),
                         ("unchanged", "all unchanged (a poll's steady state)")):  # fmt: skip
        ratio = result[f"ratio_{phase}"]
        lines.append(
            f"| {label} | {result[f'emit_{phase}_per_s']:,.0f} | "
            f"{result[f'raw_{phase}_per_s']:,.0f} | {ratio:.2f}x | >= {target}x | "
            f"{_verdict(ratio >= target)} |"
        )
    lines += [
        "",
        "The issue put the target at ~25,000 advisories/s on its machine; the absolute figures "
        "above are this machine's and this server's.",
        "",
    ]
    return "\n".join(lines)


def poll_section() -> str:
    from bench import poll

    return poll.markdown(poll.run())


def delivery_section() -> str:
    from bench import delivery

    return delivery.markdown(delivery.run())


RUNNERS: dict[str, Callable[[], str]] = {
    "normaliser": normaliser_section,
    "fetch": fetch_section,
    "store": store_section,
    "poll": poll_section,
    "delivery": delivery_section,
}


def machine() -> str:
    """One line: CPU model and count, memory, OS, Python."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.MULTILINE)
        if found:
            model = found.group(1).strip()
    memory = ""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        memory = f", {total / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return (
        f"{model}, {os.cpu_count()} CPUs{memory}, {platform.system()} {platform.release()} "
        f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
    )


def render(sections: dict[str, str], previous: str, host: str) -> str:
    """The whole file: fresh sections, and the previous run's for sections not run now."""
    kept = {m.group(1): m.group(0) for m in _BLOCK.finditer(previous)}
    parts = [
        "# Benchmarks",
        "",
        "Written by `python -m bench.run` (`--only normaliser|fetch|store|poll|delivery` runs one "
        "section and keeps the others), each section in a fresh interpreter. These machines "
        "are shared and noisy: compare the figures of one run with each other, not runs of "
        "different days. Each section says when and where it was measured.",
        "",
        f"Last run on: {host}.",
        "",
    ]
    for name in SECTIONS:
        if name in sections:
            parts.append(f"<!-- bench:{name} -->\n{sections[name]}<!-- /bench:{name} -->\n")
        elif name in kept:
            parts.append(kept[name])
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--no-write", action="store_true", help=f"do not write {DOC.name}")
    parser.add_argument("--section-out", help=argparse.SUPPRESS)  # a child's section, to here
    args = parser.parse_args(argv)
    host = machine()
    sections: dict[str, str] = {}
    if args.only:
        started = time.perf_counter()
        text = RUNNERS[args.only]()
        took = time.perf_counter() - started
        sections[args.only] = (
            f"{text.rstrip()}\n\n_Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in "
            f"{took:.0f} s on {host}._\n\n"
        )
        print(sections[args.only], flush=True)
        if args.section_out:
            Path(args.section_out).write_text(sections[args.only])
            return 0
    else:
        for name in SECTIONS:
            sections[name] = _in_child(name)
    if not args.no_write:
        previous = DOC.read_text() if DOC.exists() else ""
        DOC.write_text(render(sections, previous, host))
        print(f"wrote {DOC}")
    return 0


def _in_child(name: str) -> str:
    """Run one section in a fresh interpreter; its figures print as they come."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        out = Path(scratch) / f"{name}.md"
        command = [sys.executable, "-m", "bench.run", "--only", name, "--section-out", str(out)]
        subprocess.run(command, check=True, cwd=Path(__file__).parents[1])
        return out.read_text()


if __name__ == "__main__":
    sys.exit(main())
