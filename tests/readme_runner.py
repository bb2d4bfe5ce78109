"""Run the README top to bottom, as a newcomer would, so that it cannot rot.

Every fenced block of README.md carries an annotation on the line before it, an HTML comment
GitHub does not show:

- `<!-- readme: stack -->`: the command that starts the local stack (`./scripts/dev.sh …`). It runs
  in the background until the end; the runner waits for its "ready" line and stops it with SIGTERM,
  by its pid, as a terminal's Ctrl-C would.
- `<!-- readme: run -->`: shell commands, run in order in one bash per block; the environment a
  block exports carries over to the next, as in one terminal. A command must exit 0, unless the
  `# → exit N …` line under it says otherwise. A `# → …` line under a command is what it answers:
  each `"key": value` in it must be in the answer (a JSON answer holds that key with that value
  somewhere; a text answer contains the value), `…` in a value stands for any text, and a
  quoted word on its own (`"committed"`) must be in the answer's text.
- `<!-- readme: file NAME -->`: the block is written to NAME, for the commands after it.
- `<!-- readme: json -->`: an illustrative answer or call; it must be valid JSON.
- `<!-- readme: skip: WHY -->`: not run here, and WHY says where it is tested instead.

A block without an annotation is an error: the README cannot grow an example nobody runs.

The runner works in a folder of its own that links to the project's files (so `.venv/bin/pivot`,
`./scripts/dev.sh` and `examples/` resolve as in a clone, and `plan.json` lands in the folder).
Two things differ from a newcomer's terminal, both because a test must not take the machine's
well-known ports or a developer's running stack: `pivot dev` gets `--ports free` and a state
folder of its own (`PIVOT_STATE_DIR`, which is `.restate` in the runner's folder, so the README's
`.restate/approvers` resolves), and `localhost:8080` / `localhost:9070` in commands become the
addresses it chose (read from its `stack.json`, as every `pivot` command does).

`python -m tests.readme_runner [--days N]` runs it from a shell and prints every command with its
answer; `tests/test_readme.py` runs it in the suite, on a first and on a second day.
"""

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pivot.services.local.processes import start_ticks
from pivot.services.local.restate_binary import PROJECT_ROOT
from pivot.services.local.stack_file import FILE_NAME, StackInfo, read_stack_file

README = PROJECT_ROOT / "README.md"
ANNOTATION = re.compile(r"<!--\s*readme:\s*(?P<verb>stack|run|file|json|skip)\b:?\s*(?P<arg>.*?)\s*-->")
FENCE = re.compile(r"^\s*```(?P<lang>[\w-]*)\s*$")
ARROW = "# →"
PAIR = re.compile(r'"(?P<key>[\w$.-]+)":\s*(?:"(?P<text>[^"]*)"|(?P<number>-?\d+(?:\.\d+)?)|(?P<word>true|false|null))')
QUOTED = re.compile(r'"([^"]+)"')
EXIT = re.compile(r"^exit (?P<status>\d+)\b")
NOT_LINKED = {".git", ".restate", "plan.json"}
"""Project entries the runner's folder does not link: Git's, the state folder, what the README writes."""
READY = "ready"
STACK_START_S = 300.0
COMMAND_S = 180.0


class ReadmeError(AssertionError):
    """The README is not what the runner can run, or one of its examples failed."""


# -- the README's blocks -------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    line: int
    """The fence's line number (1-based), for messages."""
    lang: str
    verb: str
    arg: str
    body: str


def blocks(text: str) -> list[Block]:
    """Every fenced block with its annotation; a block without one, or a skip without a reason, fails."""
    found: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(lines[index]) - len(lines[index].lstrip())
        close = next((j for j in range(index + 1, len(lines)) if lines[j].strip() == "```"), None)
        if close is None:
            raise ReadmeError(f"README.md:{index + 1}: a ``` block that never closes")
        previous = next((lines[j] for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        annotation = ANNOTATION.search(previous)
        if annotation is None:
            raise ReadmeError(f"README.md:{index + 1}: a ```{opening['lang']} block without a `<!-- readme: … -->` "
                              "annotation on the line before it (run, file NAME, json, stack, or skip: why)")
        verb, arg = annotation["verb"], annotation["arg"]
        if verb in {"skip", "file"} and not arg:
            raise ReadmeError(f"README.md:{index + 1}: `readme: {verb}` needs "
                              f"{'a reason (where it is tested instead)' if verb == 'skip' else 'a file name'}")
        body = "\n".join(line[indent:] if line[:indent].isspace() else line for line in lines[index + 1:close])
        found.append(Block(index + 1, opening["lang"], verb, arg, body + "\n"))
        index = close + 1
    return found


# -- a block's commands and what they answer -----------------------------------------------------
@dataclass
class Command:
    text: str
    line: int
    expect: list[str] = field(default_factory=list)
    """The `# → …` lines under it."""

    @property
    def status(self) -> int:
        """The exit status the README says this command ends with (`# → exit N …`), else 0."""
        for arrow in self.expect:
            said = EXIT.match(arrow)
            if said:
                return int(said["status"])
        return 0


def complete(text: str) -> bool:
    """Whether `text` is a whole shell command: every quote closed, no line continuation pending."""
    if text.rstrip().endswith("\\"):
        return False
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        list(lexer)
    except ValueError:
        return False
    return True


def commands(block: Block) -> list[Command]:
    """The block's commands in order, each with the `# →` lines that follow it."""
    found: list[Command] = []
    pending: list[str] = []
    for offset, line in enumerate(block.body.splitlines(), start=1):
        stripped = line.strip()
        if not pending and stripped.startswith("#"):
            if stripped.startswith(ARROW):
                if not found:
                    raise ReadmeError(f"README.md:{block.line + offset}: `# →` before any command")
                found[-1].expect.append(stripped.removeprefix(ARROW).strip())
            continue
        if not pending and not stripped:
            continue
        pending.append(line)
        if complete("\n".join(pending)):
            found.append(Command("\n".join(pending), block.line + offset - len(pending) + 1))
            pending = []
    if pending:
        raise ReadmeError(f"README.md:{block.line}: the block ends inside a command: {pending[0]!r}")
    return found


def json_values(answer: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON answer."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            yield key, value
            yield from json_values(value)
    elif isinstance(answer, list):
        for item in answer:
            yield from json_values(item)


def matches(said: str, value: Any) -> bool:
    """`value` is what the README says: `…` stands for any text (`"hubspot:contact/…"`, `"/…/bin/pivot"`)."""
    shown = value if isinstance(value, str) else json.dumps(value)
    return re.fullmatch(".*".join(re.escape(part) for part in said.split("…")), shown, re.S) is not None


def check_answer(command: Command, output: str) -> None:
    """Each `"key": value` of the command's `# →` lines is in its answer."""
    try:
        answer: Any = json.loads(output)
    except ValueError:
        answer = None
    for arrow in command.expect:
        for pair in PAIR.finditer(arrow):
            key = pair["key"]
            said = pair["text"] if pair["text"] is not None else pair["number"] or pair["word"]
            if answer is not None:
                found = any(k == key and matches(said, v) for k, v in json_values(answer))
            else:
                found = all(part in output for part in said.split("…"))
            if not found:
                raise ReadmeError(f"README.md:{command.line}: the README says the answer holds "
                                  f'"{key}": {said!r}; it did not:\n{output}')
        for word in QUOTED.findall(PAIR.sub("", arrow)):
            if not all(part in output for part in word.split("…")):
                raise ReadmeError(f"README.md:{command.line}: the README says the answer says "
                                  f'"{word}"; it did not:\n{output}')


# -- the folder, the stack, the commands ---------------------------------------------------------
def project_folder(base: Path) -> Path:
    """A folder that looks like a clone (links to the project's files) but is the runner's own."""
    folder = base / "project"
    folder.mkdir(parents=True, exist_ok=True)
    for entry in PROJECT_ROOT.iterdir():
        link = folder / entry.name
        if entry.name not in NOT_LINKED and not link.exists():
            link.symlink_to(entry)
    return folder


@dataclass
class Session:
    """One terminal of a newcomer: a folder, the environment, the stack they started."""

    folder: Path
    say: Callable[[str], None]
    env: dict[str, str] = field(default_factory=dict)
    stack: subprocess.Popen[str] | None = None
    stack_info: StackInfo | None = None
    stack_output: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("PIVOT_", "RESTATE_"))}
        self.env = {**keep, "PIVOT_STATE_DIR": str(self.folder / ".restate"), "NO_COLOR": "1", "COLUMNS": "160"}

    def rewrite(self, text: str) -> str:
        """Point the README's well-known addresses at the stack's own ports."""
        if self.stack_info is None:
            return text
        for well_known, actual in (("8080", self.stack_info.ingress), ("9070", self.stack_info.admin)):
            host_port = actual.removeprefix("http://")
            text = re.sub(rf"\b(?:localhost|127\.0\.0\.1):{well_known}\b", host_port, text)
        return text

    # the stack -----------------------------------------------------------------------------------
    def start_stack(self, block: Block) -> None:
        if self.stack is not None:
            raise ReadmeError(f"README.md:{block.line}: a second `readme: stack` while the first still runs")
        command = block.body.strip()
        self.say(f"$ {command}    (in the background, on free ports)")
        self.stack = subprocess.Popen(["bash", "-c", f"exec {command} --ports free"], cwd=self.folder, env=self.env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)
        ready = threading.Event()

        def read(stream: Any = self.stack.stdout) -> None:
            for line in stream:
                self.stack_output.append(line)
                if line.startswith(READY):
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(STACK_START_S) or self.stack.poll() is not None:
            raise ReadmeError(f"README.md:{block.line}: `{command}` did not get ready:\n{''.join(self.stack_output)}")
        self.stack_info = read_stack_file(self.folder / ".restate" / FILE_NAME)
        if self.stack_info is None:
            raise ReadmeError(f"README.md:{block.line}: `{command}` is ready but wrote no {FILE_NAME}")
        for line in self.stack_output:
            self.say(f"  {line.rstrip()}")

    def stop_stack(self) -> None:
        """SIGTERM to `pivot dev` by its pid; a child it left running is killed by its own pid."""
        if self.stack is None:
            return
        children = {pid: start_ticks(pid) for pid in (self.stack_info.processes.values() if self.stack_info else [])}
        with suppress(ProcessLookupError):
            os.kill(self.stack.pid, signal.SIGTERM)
        try:
            self.stack.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.stack.kill()
            self.stack.wait()
        left = [pid for pid, ticks in children.items() if ticks is not None and start_ticks(pid) == ticks]
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.stack, self.stack_info = None, None
        if left:
            raise ReadmeError(f"pivot dev left processes running after SIGTERM: {left}")

    # commands --------------------------------------------------------------------------------------
    def run_block(self, block: Block) -> None:
        for command in commands(block):
            self.run_command(command)

    def run_command(self, command: Command) -> None:
        text = self.rewrite(command.text)
        self.say("$ " + text.replace("\n", "\n  "))
        env_file = self.folder / ".readme-env"
        script = f"{text}\nstatus=$?\nenv -0 > {shlex.quote(str(env_file))}\nexit $status\n"
        started = time.monotonic()
        done = subprocess.run(["bash", "-c", script], cwd=self.folder, env=self.env, capture_output=True,
                              text=True, timeout=COMMAND_S)
        took = time.monotonic() - started
        output = done.stdout.strip()
        for line in (output or done.stderr.strip()).splitlines()[:40]:
            self.say(f"  {line}")
        self.say(f"  (exit {done.returncode}, {took:.1f} s)")
        if done.returncode != command.status:
            raise ReadmeError(f"README.md:{command.line}: `{command.text}` exited {done.returncode} "
                              f"(the README expects {command.status}):\n{done.stdout}\n{done.stderr}")
        check_answer(command, output)
        if env_file.exists():
            self.env = dict(entry.split("=", 1) for entry in env_file.read_text().split("\0") if "=" in entry)

    def write_file(self, block: Block) -> None:
        self.say(f"(writes {block.arg})")
        (self.folder / block.arg).write_text(block.body)


def check_json(block: Block) -> None:
    try:
        json.loads(block.body)
    except ValueError as bad:
        raise ReadmeError(f"README.md:{block.line}: the JSON example does not parse: {bad}") from None


@dataclass
class Day:
    """What one run of the README did: the blocks run, written, checked and skipped."""

    ran: int = 0
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def run_readme(folder: Path, say: Callable[[str], None], text: str | None = None) -> Day:
    """One day: start with the README's own stack command, run every block in order, stop the stack."""
    session = Session(folder, say)
    day = Day()
    started = time.monotonic()
    try:
        for block in blocks(README.read_text() if text is None else text):
            say(f"\n── README.md:{block.line} ({block.verb}{': ' + block.arg if block.arg else ''})")
            if block.verb == "skip":
                day.skipped.append(f"README.md:{block.line}: {block.arg}")
            elif block.verb == "stack":
                session.start_stack(block)
            elif block.verb == "run":
                if session.stack is None:
                    raise ReadmeError(f"README.md:{block.line}: a command before the stack was started")
                session.run_block(block)
            elif block.verb == "file":
                session.write_file(block)
            else:
                check_json(block)
            day.ran += block.verb != "skip"
    finally:
        session.stop_stack()
    day.seconds = time.monotonic() - started
    return day


@contextmanager
def readme_folder(base: Path | None = None) -> Iterator[Path]:
    if base is not None:
        yield project_folder(base)
        return
    with tempfile.TemporaryDirectory(prefix="pivot-readme-") as scratch:
        yield project_folder(Path(scratch))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=1, help="run it this many times, restarting the stack between")
    args = parser.parse_args(argv)
    with readme_folder() as folder:
        for number in range(1, args.days + 1):
            print(f"═══ day {number}", flush=True)
            try:
                day = run_readme(folder, lambda line: print(line, flush=True))
            except ReadmeError as failed:
                print(f"\nFAILED: {failed}", file=sys.stderr)
                return 1
            print(f"\nday {number}: {day.ran} blocks ran, {len(day.skipped)} skipped, {day.seconds:.0f} s")
            for skipped in day.skipped:
                print(f"  skipped {skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
