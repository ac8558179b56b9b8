"""Every command in README.md's shell blocks runs as written (issue 10), or is exempted here with its reason.

The commands are read from the README's fenced ``bash``/``sh``/``shell``/``console`` blocks: ``\\`` joins
continuation lines, comment-only lines are skipped, a ``$ `` prompt is dropped (in a ``console`` block only
the prompted lines are commands; the rest is output). Each command is then either in ``RUN`` (run as written
with ``bash -c``, its output checked where it has an obvious result) or in ``EXEMPT`` (with the reason and,
where one exists, the test that covers it). A command in neither fails ``test_every_readme_command_is_run_or_
exempted``, and so does a table entry that no longer matches a README command: editing a README command means
editing this file too.

The commands run from a temporary working copy laid out like the repository root (``.venv`` linked to the
test's virtual environment, the top-level files copied, ``.lake/`` and ``.dagster_home/`` of its own) with
``.venv/bin`` first on PATH, as after ``source .venv/bin/activate``. ``LAKE_ROOT`` points at the copy's
``.lake/`` (the default is the real repository's ``.lake/``, whatever the working directory), so nothing
touches the repository's lake or Dagster home. ``make demo`` itself is not run (the whole demo is
``test_demo.py``); the module fixture stands in for it with what its event part leaves behind: the demo's
sample file (small) in ``.lake/_system/demo/``, landed and indexed, and ``.dagster_home/dagster.yaml``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from lake_assets.samples.events import write_sample_file
from lake_assets.settings import REPO_ROOT

README = REPO_ROOT / "README.md"
BIN = Path(sys.executable).parent
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console", "shell-session", "zsh"})
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
# Words that start a command: an unlabeled block holding one should be marked as shell.
_COMMAND_WORDS = frozenset({"make", "lake", "dagster", "source", "pip", "python", "python3", "cd", "export"})


@dataclass(frozen=True)
class Command:
    """One README command: ``text`` as bash runs it (continuations kept), ``key`` what the tables match."""

    text: str
    key: str
    line: int  # where it starts in the README, counted from 1

    @property
    def program(self) -> str:
        """The command after its leading environment assignments (``A=1 lake index`` -> ``lake index``)."""
        for start, word in _words(self.key):
            if not _ASSIGNMENT.match(word):
                return self.key[start:]
        return ""


def _words(text: str) -> list[tuple[int, str]]:
    """Shell words of ``text`` with where each starts; quotes and ``$(...)`` keep their blanks."""
    words: list[tuple[int, str]] = []
    start: int | None = None
    quote: str | None = None
    depth = 0
    for i, char in enumerate(text):
        if start is None:
            if char.isspace():
                continue
            start = i
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(" and text[i - 1 : i] == "$":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif char.isspace() and not depth:
            words.append((start, text[start:i]))
            start = None
    if start is not None:
        words.append((start, text[start:]))
    return words


def strip_comment(line: str) -> str:
    """``line`` without a shell comment: a ``#`` that starts a word outside quotes starts one."""
    quote: str | None = None
    escaped = False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def command_key(text: str) -> str:
    """What the tables match: continuations joined, comments dropped, runs of blanks as one space."""
    joined = " ".join(strip_comment(part) for part in text.split("\\\n"))
    return " ".join(joined.split())


def _fenced_blocks(markdown: str) -> list[tuple[str, int, list[str]]]:
    """(info word, line number of the first content line, content lines) of each fenced block."""
    blocks: list[tuple[str, int, list[str]]] = []
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j])
            j += 1
        blocks.append((opening["info"].lower(), i + 2, body))
        i = j + 1
    return blocks


def readme_commands(readme: Path = README) -> list[Command]:
    """Every command of the shell blocks of ``readme``, in order."""
    commands: list[Command] = []
    for language, first_line, body in _fenced_blocks(readme.read_text()):
        if language not in SHELL_LANGUAGES:
            continue
        prompted = language in ("console", "shell-session")
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(body):
            line = raw.rstrip()
            if pending:  # a continuation of the previous line
                line = line[2:] if prompted and line.startswith("> ") else line
            else:
                stripped = line.lstrip()
                if stripped.startswith("$ "):
                    line = stripped[2:]
                elif prompted:
                    continue  # output shown under a prompted command
                if not strip_comment(line).strip():
                    continue  # blank, or a comment only
                start = first_line + offset
            pending.append(line)
            if strip_comment(line).endswith("\\"):  # a backslash in a comment continues nothing
                continue
            text = "\n".join(pending)
            commands.append(Command(text=text, key=command_key(text), line=start))
            pending = []
        if pending:
            raise ValueError(f"{readme}:{start}: the block ends inside a continued command")
    return commands


def unlabeled_command_blocks(readme: Path = README) -> list[int]:
    """Lines of fenced blocks without a language whose first line reads like a command (mark them bash)."""
    found = []
    for language, first_line, body in _fenced_blocks(readme.read_text()):
        words = next((line.split() for line in body if line.strip()), [])
        if not language and words:
            word = words[1] if words[0] == "$" and len(words) > 1 else words[0]
            if word in _COMMAND_WORDS or word.startswith(".venv/") or _ASSIGNMENT.match(word):
                found.append(first_line)
    return found


@dataclass(frozen=True)
class Audit:
    to_run: list[Command]
    exempted: list[Command]
    unclassified: list[Command]
    stale: list[str]  # table entries that match no README command

    def report(self) -> str:
        lines = [
            f"README line {c.line}: `{c.key}` is neither run nor exempted: add it to RUN (with what its "
            "output must show) or to EXEMPT (with the reason) in e2e/test_readme_commands.py"
            for c in self.unclassified
        ]
        lines += [
            f"`{key}` is in RUN or EXEMPT but in no README shell block: update it" for key in self.stale
        ]
        return "\n".join(lines)


def audit(commands: list[Command], run: Mapping[str, object], exempt: Mapping[str, str]) -> Audit:
    keys = {c.key for c in commands}
    return Audit(
        to_run=[c for c in commands if c.key in run],
        exempted=[c for c in commands if c.key in exempt and c.key not in run],
        unclassified=[c for c in commands if c.key not in run and c.key not in exempt],
        stale=sorted((set(run) | set(exempt)) - keys),
    )


# --- the working copy and what the commands must show ---------------------------------------------------


@dataclass(frozen=True)
class WorkingCopy:
    root: Path
    env: dict[str, str]
    days: tuple[str, ...] = ()  # the days the demo's sample has events on, within the README's range
    sample_events: int = 0


def make_working_copy(root: Path) -> WorkingCopy:
    """A folder laid out like the repository root, with an empty lake and Dagster home of its own."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".venv").symlink_to(Path(sys.prefix))
    for entry in REPO_ROOT.iterdir():
        if entry.is_file() and not entry.name.startswith("."):
            shutil.copyfile(entry, root / entry.name)
    (root / ".dagster_home").mkdir()
    shutil.copyfile(REPO_ROOT / "dagster.yaml", root / ".dagster_home" / "dagster.yaml")
    (root / ".lake").mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LAKE_", "AWS_", "DAGSTER_")) and k not in ("VIRTUAL_ENV", "PYTHONHOME")
    }
    env["LAKE_ROOT"] = str(root / ".lake")
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return WorkingCopy(root=root, env=env)


def run_command(
    command: Command, copy: WorkingCopy, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command.text],
        cwd=copy.root,
        env=copy.env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


Expectation = Callable[[str, WorkingCopy], None]


def run_all(
    commands: list[Command], expectations: Mapping[str, Expectation | None], copy: WorkingCopy
) -> list[str]:
    """Run each command in order; every failure is reported (a later command may explain an earlier one)."""
    problems = []
    for command in commands:
        done = run_command(command, copy)
        output = done.stdout + done.stderr
        where = f"README line {command.line}: `{command.key}`"
        if done.returncode != 0:
            problems.append(f"{where} exited {done.returncode}:\n{output[-3000:]}")
            continue
        check = expectations[command.key]
        if check is None:
            continue
        try:
            check(output, copy)
        except AssertionError as exc:
            problems.append(f"{where} exited 0 but {exc}:\n{output[-3000:]}")
    return problems


def _rows(output: str) -> dict[str, list[str]]:
    """DuckDB box rows keyed by their first cell (a day here): ``│ 2026-11-27 │ 52 │`` -> {day: [cells]}."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("│").split("│")]
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", cells[0]):
            rows[cells[0]] = cells[1:]
    return rows


def _shows(*needles: str) -> Expectation:
    def check(output: str, copy: WorkingCopy) -> None:
        missing = [n for n in needles if n not in output]
        assert not missing, f"its output lacks {missing}"

    return check


def _ingested(output: str, copy: WorkingCopy) -> None:
    found = re.search(r"read (\d+) events; landed (\d+)", output)
    assert found and int(found[1]) == copy.sample_events, f"it did not read the {copy.sample_events} events"


def _indexed(output: str, copy: WorkingCopy) -> None:
    missing = [day for day in copy.days if f"raw/events/page_view dt={day}:" not in output]
    assert not missing, f"it lists no new page_view objects for {missing}"


def _raw_holds_every_copy(output: str, copy: WorkingCopy) -> None:
    rows = _rows(output)
    assert sorted(rows) == list(copy.days), f"it shows the days {sorted(rows)}, not {list(copy.days)}"
    for day, (raw_rows, events) in rows.items():
        assert int(raw_rows) >= 2 * int(events) > 0, f"raw on {day} holds {raw_rows} rows for {events} events"


def _funnel_by_day(output: str, copy: WorkingCopy) -> None:
    rows = _rows(output)
    assert sorted(rows) == list(copy.days), f"it shows the days {sorted(rows)}, not {list(copy.days)}"
    assert all(int(cells[0]) > 0 for cells in rows.values()), "a day has no sessions"


def _published(output: str, copy: WorkingCopy) -> None:
    assert re.search(r"^\d+ .* overwrite ", output, re.MULTILINE), "it lists no published overwrite"


MATERIALIZE = (
    "DAGSTER_HOME=$PWD/.dagster_home dagster asset materialize -m lake_assets.definitions "
    "--select '*final/shop/daily_product_sales,*final/shop/daily_funnel' "
    "--partition-range \"$(date -u -d '3 days ago' +%F)...$(date -u +%F)\""
)
# Run as written, in README order, with what each must show (None: exit status 0 is the observable result).
RUN: dict[str, Expectation | None] = {
    "source .venv/bin/activate": None,  # each command runs in its own bash: it must only succeed
    "lake events ingest .lake/_system/demo/events.jsonl": _ingested,
    "lake index": _indexed,
    MATERIALIZE: _shows("RUN_SUCCESS"),
    'lake query "SELECT dt, count(*) AS raw_rows, count(DISTINCT event_id) AS events '
    'FROM raw.events_page_view GROUP BY dt ORDER BY dt"': _raw_holds_every_copy,
    'lake query "SELECT dt, sessions, conversion_rate FROM final.shop_daily_funnel '
    'ORDER BY dt"': _funnel_by_day,
    "lake catalog list": _shows(
        "final.shop_daily_funnel", "final.shop_daily_product_sales", "intermediate.events_page_view"
    ),
    "lake catalog history final.shop_daily_funnel": _published,
}
# Not run here, each with its reason.
EXEMPT: dict[str, str] = {
    "make demo": "the set-up itself (a fresh .venv, then the whole 2-minute demo); `lake demo` is run by "
    "e2e/test_demo.py, and the fixture below stands in for the state it leaves",
    "make test": "what CI (.ci/run) runs: the suite this test is part of, with ruff and the schema gate",
    "make dev": "a long-running server (`dagster dev` with .dagster_home): started, queried and stopped by "
    "e2e/test_dagster_dev.py",
}


@pytest.fixture(scope="module")
def after_the_demo(tmp_path_factory: pytest.TempPathFactory) -> WorkingCopy:
    """The working copy as `make demo`'s event part leaves it: its sample file (small), landed and indexed.

    Not materialized: the README's `dagster asset materialize` builds the tables (after the real demo it
    replaces the same days), so the module starts one Spark JVM, not two.
    """
    copy = make_working_copy(tmp_path_factory.mktemp("readme") / "repo")
    first_day = dt.date.today() - dt.timedelta(days=3)  # as `lake demo` picks its days
    sample = copy.root / ".lake" / "_system" / "demo" / "events.jsonl"
    sample.parent.mkdir(parents=True)
    stats = write_sample_file(sample, n_events=1500, days=3, start=first_day, seed=7)
    for args in (["events", "ingest", str(sample)], ["index"]):
        done = subprocess.run(
            [str(BIN / "lake"), *args],
            cwd=copy.root,
            env=copy.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    # The README's range: 3 days ago to today, UTC; the sample's events spill a little into today.
    today = dt.datetime.now(dt.UTC).date()
    sample_days = range(
        dt.date.fromisoformat(stats.first_event_time[:10]).toordinal(),
        dt.date.fromisoformat(stats.last_event_time[:10]).toordinal() + 1,
    )
    days = tuple(
        day.isoformat()
        for day in map(dt.date.fromordinal, sample_days)
        if today - dt.timedelta(days=3) <= day <= today
    )
    assert days, (stats.first_event_time, stats.last_event_time, today)
    return WorkingCopy(root=copy.root, env=copy.env, days=days, sample_events=1500)


# --- the tests -------------------------------------------------------------------------------------------


def test_every_readme_command_is_run_or_exempted() -> None:
    found = audit(readme_commands(), RUN, EXEMPT)
    assert found.to_run, "no README command found to run: did the README's blocks lose their `bash` mark?"
    assert not found.unclassified and not found.stale, found.report()
    assert not unlabeled_command_blocks(), "a fenced block of commands has no language: mark it ```bash"


@pytest.mark.e2e
def test_every_readme_command_runs_as_written(after_the_demo: WorkingCopy) -> None:
    found = audit(readme_commands(), RUN, EXEMPT)
    problems = run_all(found.to_run, RUN, after_the_demo)
    assert not problems, "\n\n".join(problems)


def test_the_lineage_link_expands_every_asset_group() -> None:
    """The README's lineage link lists the UI's id of each group of the definitions (none forgotten)."""
    from lake_assets.definitions import defs

    links = re.findall(r"http://127\.0\.0\.1:3000/asset-groups\?expanded=([^)\s]+)", README.read_text())
    assert len(links) == 1, links
    expanded = urllib.parse.unquote(links[0]).split(",")
    groups = {spec.group_name for spec in defs.resolve_all_asset_specs()}
    assert sorted(expanded) == sorted(f"global@global:{group}" for group in groups)


def test_commands_are_read_as_bash_reads_them(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "Prose with `make inline` is not a command.\n"
        "\n"
        "```bash\n"
        "make demo   # a comment\n"
        "            # and its second line\n"
        "# a comment line\n"
        "\n"
        'A=1 B="two words" lake query "SELECT \'#1\' AS x"  # the # in quotes stays\n'
        "dagster asset materialize -m m \\\n"
        "  --select 'a,b' \\\n"
        '  --partition-range "$(date +%F)...$(date +%F)"\n'
        "$ lake index\n"
        "```\n"
        "\n"
        "```console\n"
        "$ lake catalog list\n"
        "SQLite catalog: 5 table(s)\n"
        "$ lake query \\\n"
        '> "SELECT 1"\n'
        "```\n"
        "\n"
        "```python\n"
        "make('not shell')\n"
        "```\n"
        "\n"
        "```\n"
        "lake not-marked-as-shell\n"
        "```\n"
        "\n"
        "```\n"
        "lake_assets/   a layout, not a command\n"
        "```\n"
    )
    commands = readme_commands(readme)
    assert [(c.line, c.key) for c in commands] == [
        (4, "make demo"),
        (8, 'A=1 B="two words" lake query "SELECT \'#1\' AS x"'),
        (9, "dagster asset materialize -m m --select 'a,b' --partition-range \"$(date +%F)...$(date +%F)\""),
        (12, "lake index"),
        (16, "lake catalog list"),
        (18, 'lake query "SELECT 1"'),
    ]
    assert commands[1].program == "lake query \"SELECT '#1' AS x\""
    assert commands[2].text.count("\\\n") == 2  # bash gets the lines as written
    assert unlabeled_command_blocks(readme) == [27]


def test_an_unclassified_a_failing_and_a_wrong_command_are_all_reported(tmp_path: Path) -> None:
    """A copy of the README with three more commands: one in no table, two that run but fail."""
    readme = tmp_path / "README.md"
    readme.write_text(
        README.read_text() + "\n```bash\nlake no-such-command --now\n"
        "lake catalog show final.no_such_table\nlake catalog list\n```\n"
    )
    failing = "lake catalog show final.no_such_table"
    found = audit(readme_commands(readme), {**RUN, failing: None}, EXEMPT)
    assert [c.key for c in found.unclassified] == ["lake no-such-command --now"]
    assert "is neither run nor exempted" in found.report() and not found.stale
    added = [c for c in found.to_run if c.line > len(README.read_text().splitlines())]
    assert [c.key for c in added] == [failing, "lake catalog list"]
    # Run in an empty lake: the first exits 2; the second exits 0 but lists none of the tables RUN expects.
    problems = run_all(added, {**RUN, failing: None}, make_working_copy(tmp_path / "repo"))
    assert len(problems) == 2, problems
    assert f"`{failing}` exited 2" in problems[0] and "final.no_such_table" in problems[0]
    assert "`lake catalog list` exited 0 but its output lacks ['final.shop_daily_funnel'" in problems[1]
    stale = audit(readme_commands(readme), {**RUN, "lake gone": None}, EXEMPT).stale
    assert stale == ["lake gone"]
