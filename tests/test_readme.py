"""The README runs top to bottom (see `tests/readme_runner.py`): every example in order, against the
stack its own first command starts, on a first day and — the stack stopped and started again, as
the next morning — on a second; and every block says how it is run or why not."""

import os
from pathlib import Path

import pytest

from tests.readme_runner import (
    README,
    Block,
    Command,
    ReadmeError,
    blocks,
    check_answer,
    commands,
    project_folder,
    run_readme,
)

FENCE = "```"


def test_every_block_of_the_readme_is_run_or_says_where_it_is_tested() -> None:
    found = blocks(README.read_text())
    assert [block.verb for block in found].count("stack") == 1 and found[0].verb == "stack"
    run = [block for block in found if block.verb == "run"]
    assert len(run) >= 6 and sum(len(commands(block)) for block in run) >= 20
    assert all(block.arg for block in found if block.verb == "skip")


@pytest.mark.parametrize("text, problem", [
    (f"Some text.\n{FENCE}bash\ncurl localhost:8080\n{FENCE}\n", "without a `<!-- readme: … -->` annotation"),
    (f"<!-- readme: skip -->\n{FENCE}bash\nrm -rf x\n{FENCE}\n", "needs a reason"),
    (f"<!-- readme: run -->\n{FENCE}bash\necho 'never closed\n{FENCE}\n", "ends inside a command"),
    (f"<!-- readme: run -->\n{FENCE}bash\necho hi\n", "never closes"),
])
def test_a_readme_the_runner_cannot_run_is_refused_with_its_line(text: str, problem: str) -> None:
    with pytest.raises(ReadmeError, match=r"README\.md:2") as refused:
        for block in blocks(text):
            commands(block)
    assert problem in str(refused.value)


def block_of(body: str) -> Block:
    return Block(1, "bash", "run", "", body)


def test_commands_split_on_quotes_and_continuations_and_keep_their_expectations() -> None:
    found = commands(block_of("curl -s x -d '{\"a\":\n  1}'   # it's a comment\n# → {\"a\": 1}\n"
                              "pivot step r s a \\\n  --params '{}'\n# → exit 2: refused\n# an aside\necho ok\n"))
    assert [c.text.split()[0] for c in found] == ["curl", "pivot", "echo"]
    assert found[0].expect == ['{"a": 1}'] and found[1].status == 2 and found[2].status == 0


@pytest.mark.parametrize("arrow, answer, holds", [
    ('{"status": "committed", …}', '{"run": {"status": "committed"}}', True),
    ('{"status": "committed", …}', '{"status": "compensated"}', False),
    ('"ref": "hubspot:contact/…"', '{"ref": "hubspot:contact/104"}', True),
    ('"ref": "hubspot:contact/…"', '{"ref": "stripe:invoice/in_1"}', False),
    ('"command": "/…/.venv/bin/pivot"', '{"command": "/home/me/p/.venv/bin/pivot"}', True),
    ('{"code": 409, …}', '{"code": 409, "message": "…"}', True),
    ('{"code": 409, …}', '{"code": 400}', False),
    ('"waiting": the saga parks', "step invoice → waiting_approval", True),
    ('"committed"', "agent-run-1  compensated", False),
])
def test_what_the_readme_says_an_answer_holds_is_checked(arrow: str, answer: str, holds: bool) -> None:
    command = Command("x", 1, [arrow])
    if holds:
        check_answer(command, answer)
    else:
        with pytest.raises(ReadmeError, match="the README says"):
            check_answer(command, answer)


DAYS = int(os.environ.get("PIVOT_README_DAYS", "1"))
"""The suite runs the README once; CI's long tier (.ci/run) runs it on a second day too."""


def test_the_readme_runs_top_to_bottom_on_a_first_and_a_second_day(tmp_path: Path) -> None:
    """Day two reuses the same folder and state folder: run ids and emails the first day took are
    free again, because `pivot dev` starts Restate's (and PostgreSQL's) data empty, as the
    sandboxes start."""
    lines: list[str] = []
    folder = project_folder(tmp_path)
    days = [run_readme(folder, lines.append) for _ in range(DAYS)]
    print("\n".join(lines))  # the README runner's output, shown with -s
    for day in days:
        assert day.ran >= 12 and len(day.skipped) <= 10
    assert any("committed" in line for line in lines) and any("compensated" in line for line in lines)
