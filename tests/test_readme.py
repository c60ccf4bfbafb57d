"""Every Python snippet of the README runs verbatim, from the repository root, in a fresh interpreter."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tiktoken

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = re.findall(r"^```python\n(.*?)^```$", (ROOT / "README.md").read_text(encoding="utf-8"), re.M | re.S)


def test_the_readme_has_snippets() -> None:
    assert len(SNIPPETS) >= 3


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet {i + 1}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs_verbatim(code: str) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_documented_counter_example_is_what_it_says() -> None:
    from ctxbudget import Counter, TokenCountCache

    counter = Counter.for_model("gpt-4", TokenCountCache(maxsize=10_000, ttl=0))
    assert counter.count("hello world") == 2
    assert counter.count_batch(["a", "b", "a"]) == [1, 1, 1]
    assert counter.provenance()["tokenizer_id"].startswith("tiktoken:cl100k_base@")


def test_the_before_and_after_is_what_fit_writes(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Before and after", 1)[1]
    command, summary = re.search(r"```console\n\$ (.*?)\n(.*?)\n```", section, re.S).groups()  # type: ignore[union-attr]
    args = command.split()[1:]
    args[args.index("examples/monorepo/CLAUDE.md")] = str(ROOT / "examples" / "monorepo" / "CLAUDE.md")
    done = subprocess.run([sys.executable, "-m", "ctxbudget.cli.main", *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    # the README names the tiktoken release it was run with; any supported release counts the same
    installed = re.sub(r"@[\d.]+\)", f"@{tiktoken.__version__})", summary)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", installed + "\n")
    excerpt = re.search(r"```markdown\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]
    assert (tmp_path / "AGENTS.md").read_text(encoding="utf-8").endswith(excerpt)
    source = ROOT / "examples" / "monorepo" / "CLAUDE.md"
    assert len(source.read_text(encoding="utf-8").splitlines()) == 398


def test_the_conventions_example_in_docs_reads_as_annotated() -> None:
    from ctxbudget import parse_markdown

    docs = (ROOT / "docs" / "markdown.md").read_text(encoding="utf-8")
    example = docs.split("```markdown\n")[2].split("```")[0]
    expected = [re.search(r"← (.*)$", line).group(1) for line in example.splitlines() if "←" in line]  # type: ignore[union-attr]
    rules = parse_markdown(re.sub(r" +←.*", "", example), "CLAUDE").rules
    assert len(rules) == len(expected) == 5
    for rule, note in zip(rules, expected, strict=True):
        assert note.startswith(rule.authority.value)
        if rule.priority is not None:
            assert f"priority {rule.priority:g}" in note
        elif rule.authority.value == "default":
            assert "priority 50" in note
    assert rules[3].name == "Naming"


def test_the_demo_commands_run_from_the_repository_root() -> None:
    """The README's first command (scripts/demo.sh) broke once on relative paths; run its ctxbudget lines."""
    text = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    commands = re.findall(r"^\.venv/bin/ctxbudget (.*?)$", text.replace("\\\n", " "), re.M)
    assert len(commands) == 3
    for command in commands:
        done = subprocess.run([sys.executable, "-m", "ctxbudget", *command.split()], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()


WALK = {"--include", "--exclude", "--no-ignore", "--errors"}
CACHE = {"--cache", "--no-cache", "--exact"}
OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _readme_synopsis() -> dict[str, set[str]]:
    """The options the README's CLI synopsis names per command ([WALK] and [CACHE] stand for their groups)."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## CLI\n", 1)[1]
    block = section.split("```\n", 2)[1]
    found: dict[str, set[str]] = {}
    current = ""
    for line in block.splitlines():
        head = re.match(r"ctxbudget (\w+)", line)
        if head:
            current = head.group(1)
            found[current] = set()
        found[current] |= set(OPTION.findall(line))
        found[current] |= (WALK if "[WALK]" in line else set()) | (CACHE if "[CACHE]" in line else set())
    return found


def _help_options(command: str) -> list[set[str]]:
    """Each option of ``ctxbudget COMMAND --help`` as the set of its spellings (``-m``, ``--model``)."""
    done = subprocess.run([sys.executable, "-m", "ctxbudget", command, "--help"], capture_output=True, text=True,
                          timeout=60, check=True)
    listed = done.stdout.split("\noptions:\n", 1)[1]
    spec = re.compile(r"^  (-\S.*?)(?:  |$)")
    return [set(OPTION.findall(m.group(1))) for line in listed.splitlines() if (m := spec.match(line))]


def test_the_readme_synopsis_matches_every_commands_help() -> None:
    from ctxbudget.cli.main import COMMANDS

    synopsis = _readme_synopsis()
    assert list(synopsis) == list(COMMANDS)
    for command, named in synopsis.items():
        options = [spellings for spellings in _help_options(command) if "--help" not in spellings]
        missing = [sorted(s) for s in options if not s & named]
        unknown = named - set().union(*options)
        assert (missing, unknown) == ([], set()), command
