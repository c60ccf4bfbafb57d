"""Rule model and loaders: validation, priority, ranking, cost text, file formats with located errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ctxbudget.rules import (
    AuthorityLevel,
    MemoryCategory,
    MemoryRule,
    ranked_positions,
    rule_cost_text,
    rule_priority,
)
from ctxbudget.rules.loaders import RulesFileError, load_rules
from ctxbudget.rules.markdown import rules_from_markdown

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def make(rid: str = "r", **kw: object) -> MemoryRule:
    base: dict[str, object] = dict(id=rid, category="behavior", name=rid, rule="Do it", authority="default",
                                   scope=[], created_at=T0)
    base.update(kw)
    return MemoryRule(**base)  # type: ignore[arg-type]


def test_enums_and_conversion() -> None:
    rule = make(category="preference", authority="absolute")
    assert rule.category is MemoryCategory.PREFERENCE
    assert rule.authority is AuthorityLevel.ABSOLUTE
    assert (MemoryCategory.AGENT.value, AuthorityLevel.DEFAULT.value) == ("agent", "default")


def test_naive_datetimes_are_utc_and_updated_defaults_to_created() -> None:
    rule = make(created_at=datetime(2025, 3, 1, 12, 0))
    assert rule.created_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert rule.updated_at == rule.created_at
    plus2 = timezone(timedelta(hours=2))
    shifted = make(created_at=datetime(2025, 3, 1, 14, 0, tzinfo=plus2))
    assert shifted.created_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"id": ""}, "rule id"),
    ({"rule": "  "}, "rule text"),
    ({"priority": 101}, "between 0 and 100"),
    ({"priority": -1}, "between 0 and 100"),
    ({"priority": True}, "real number"),
    ({"priority": float("nan")}, "real number"),
    ({"metadata": {"priority": "high"}}, "metadata.priority"),
    ({"category": "nope"}, "unknown category"),
    ({"authority": "sometimes"}, "unknown authority"),
])
def test_validation_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_priority_sources_and_default() -> None:
    assert rule_priority(make()) == 50
    assert rule_priority(make(metadata={"priority": 80})) == 80
    assert rule_priority(make(priority=20, metadata={"priority": 80})) == 20


def test_ranking_priority_then_newest_then_position() -> None:
    rules = [make("a", priority=10), make("b", created_at=T0), make("c", created_at=T0 + timedelta(days=1)),
             make("d", created_at=T0), make("e", priority=90)]
    assert [rules[i].id for i in ranked_positions(rules)] == ["e", "c", "b", "d", "a"]


def test_cost_text() -> None:
    assert rule_cost_text(make(scope=["py", "git"], source="team")) == "Do it py git source:team"
    assert rule_cost_text(make(source="")) == "Do it"
    assert rule_cost_text(make()) == "Do it source:user_explicit"


def test_dict_round_trip_and_defaults() -> None:
    rule = make(scope=["x"], conditions={"condition": "on Fridays"}, replaces=["old"], metadata={"priority": 5})
    assert MemoryRule.from_dict(rule.to_dict()) == rule
    built = MemoryRule.from_dict({"rule": "Be kind", "category": "behavior", "authority": "default"}, position=3)
    assert (built.id, built.name, built.scope) == ("rule_3", "rule_3", [])
    with pytest.raises(ValueError, match="unknown field"):
        MemoryRule.from_dict({"rule": "x", "category": "behavior", "authority": "default", "colour": 1})


def test_equality_by_value_hash_by_id() -> None:
    assert make("a") == make("a")
    assert make("a") != make("a", rule="other")
    assert hash(make("a")) == hash(make("a", rule="other"))
    with pytest.raises(AttributeError):
        make().rule = "changed"  # type: ignore[misc]


def test_example_files_load_the_same_from_every_format(tmp_path: Path) -> None:
    rules = load_rules(EXAMPLES / "rules.yaml")
    assert len(rules) == 16
    assert sum(r.is_absolute for r in rules) == 3
    data = {"rules": [r.to_dict() for r in rules]}
    (tmp_path / "r.json").write_text(json.dumps(data), encoding="utf-8")
    assert load_rules(tmp_path / "r.json") == rules
    (tmp_path / "list.json").write_text(json.dumps(data["rules"]), encoding="utf-8")
    assert load_rules(tmp_path / "list.json") == rules
    toml = "\n".join(
        f'[[rules]]\nid = "{r.id}"\nname = "{r.name}"\nrule = "{r.rule}"\ncategory = "{r.category.value}"\n'
        f'authority = "{r.authority.value}"\nscope = {json.dumps(r.scope)}\nsource = "{r.source}"\n'
        f'created_at = "{r.created_at.isoformat()}"\n' + (f"priority = {r.priority}\n" if r.priority else "")
        + (f'conditions = {{ condition = "{r.conditions["condition"]}" }}\n' if r.conditions else "")
        for r in rules
    )
    (tmp_path / "r.toml").write_text(toml, encoding="utf-8")
    assert load_rules(tmp_path / "r.toml") == rules


BAD_YAML = [
    ("rules:\n  - rule: x\n    category: behavior\n", "r.yaml:2: rules[0].authority: required field is missing"),
    ("rules:\n  - rule: x\n    category: behaviour\n    authority: default\n",
     "r.yaml:3: rules[0].category: must be one of preference, behavior, agent, got 'behaviour'"),
    ("- rule: ok\n  category: agent\n  authority: default\n- rule: x\n  category: agent\n  authority: default\n"
     "  priority: 120\n", "r.yaml:7: rules[1].priority: must be between 0 and 100, got 120"),
    ("- rule: x\n  category: agent\n  authority: default\n  colour: red\n", "r.yaml:4: rules[0].colour: unknown field"),
    ("- rule: x\n  category: agent\n  authority: default\n  scope: 3\n", "r.yaml:4: rules[0].scope: must be a list"),
    ("- rule: ''\n  category: agent\n  authority: default\n", "r.yaml:1: rules[0].rule: must not be empty"),
    ("- rule: x\n  category: agent\n  authority: default\n  created_at: yesterday\n",
     "r.yaml:4: rules[0].created_at: not an ISO 8601 datetime"),
    ("- rule: x\n  category: agent\n  authority: default\n  metadata: {priority: -5}\n",
     "r.yaml:4: rules[0].metadata.priority: must be between 0 and 100"),
    ("- id: a\n  rule: x\n  category: agent\n  authority: default\n- id: a\n  rule: y\n  category: agent\n"
     "  authority: default\n", "r.yaml:5: rules[1].id: duplicate id 'a'"),
    ("- just a string\n", "r.yaml:1: rules[0]: must be a mapping"),
    ("rules: [\n", "r.yaml:2:1: invalid YAML at rules: expected the node content, but found '<stream end>'"),
    # review finding: inside lists the key path of a syntax error was nested wrongly (rules.id.authority)
    ("- rule: ok\n  category: agent\n  authority: default\n- rule: 'broken\n",
     "r.yaml:5:1: invalid YAML at [1].rule: found unexpected end of stream (while scanning a quoted scalar at line 4)"),
    ("rules:\n  - rule: ok\n    category: agent\n    authority: default\n  - rule: x\n    scope: [a, b\n"
     "    authority: default\n", "r.yaml:7:14: invalid YAML at rules[1].scope[1]: expected ',' or ']', but got ':'"),
    ("settings: {}\n", "r.yaml: unknown top-level key 'settings'"),
    ("- rule: x\n  category: agent\n  authority: default\n  priority: true\n",
     "r.yaml:4: rules[0].priority: must be a number between 0 and 100, got True"),
    ("- rule: 5\n  category: agent\n  authority: default\n", "r.yaml:1: rules[0].rule: must be a string, got int"),
    ("- rule: x\n  category: agent\n  authority: default\n  conditions: [a]\n",
     "r.yaml:4: rules[0].conditions: must be a mapping, got list"),
]


@pytest.mark.parametrize(("content", "message"), BAD_YAML)
def test_bad_rules_files_name_file_line_and_field(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(RulesFileError) as info:
        load_rules(path)
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(message)


def test_other_bad_files(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"rules": [}', encoding="utf-8")
    with pytest.raises(RulesFileError, match=r"r.json:1: invalid JSON"):
        load_rules(tmp_path / "r.json")
    (tmp_path / "r.txt").write_text("x", encoding="utf-8")
    with pytest.raises(RulesFileError, match=r"unsupported rules file type \.txt"):
        load_rules(tmp_path / "r.txt")
    (tmp_path / "b.yaml").write_bytes(b"\xff\xfe")
    with pytest.raises(RulesFileError, match="not UTF-8"):
        load_rules(tmp_path / "b.yaml")


MARKDOWN = """# Memory

Intro prose is a rule of its own.

## Critical rules
- Never push to main.
- **Reviews**: every change needs a review
  by a second engineer.

## Style preferences
<!-- absolute -->
- Use tabs.
<!-- priority: 80 -->
- Prefer short functions.

```
- not a rule inside a fence
```

## Agent workflow
<!-- default -->
- Always plan first.

## Notes
Some prose rule
over two lines.
"""


def test_markdown_conventions() -> None:
    rules = rules_from_markdown(MARKDOWN, source_name="CLAUDE")
    summary = [(r.id, r.authority.value, r.category.value, r.name, r.rule, r.priority, r.metadata["kind"])
               for r in rules]
    assert summary == [
        ("claude-1", "default", "behavior", "Intro prose is a rule of its own.", "Intro prose is a rule of its own.",
         None, "paragraph"),
        ("claude-2", "absolute", "behavior", "Never push to main.", "Never push to main.", None, "item"),
        ("claude-3", "absolute", "behavior", "Reviews", "every change needs a review\nby a second engineer.", None,
         "item"),
        ("claude-4", "absolute", "preference", "Use tabs.", "Use tabs.", None, "item"),
        ("claude-5", "default", "preference", "Prefer short functions.", "Prefer short functions.", 80.0, "item"),
        # the fence is a unit of its own, verbatim: the list item in it is code, not a rule
        ("claude-6", "default", "preference", "code: not a rule inside a fence",
         "```\n- not a rule inside a fence\n```", None, "code"),
        ("claude-7", "default", "agent", "Always plan first.", "Always plan first.", None, "item"),
        ("claude-8", "default", "behavior", "Some prose rule", "Some prose rule\nover two lines.", None, "paragraph"),
    ]
    assert rules[1].source == ""  # the file is in the metadata; costs are of the text alone
    assert rules[1].metadata == {"section": "Critical rules", "kind": "item", "line": 6, "file": "CLAUDE",
                                 "atomic": False, "named": False}
    assert rules[2].metadata is not None and rules[2].metadata["named"] is True
    assert rules_from_markdown(MARKDOWN, "CLAUDE") == rules  # deterministic


def test_bundled_instruction_files_load() -> None:
    names = ("CLAUDE.md", "AGENTS.md", "GEMINI.md")
    counts = {name: len(load_rules(EXAMPLES / "instructions" / name)) for name in names}
    assert counts == {"CLAUDE.md": 7, "AGENTS.md": 7, "GEMINI.md": 6}
    assert load_rules(EXAMPLES / "instructions" / "GEMINI.md")[0].rule.startswith("You are working in a monorepo")
