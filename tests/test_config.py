"""Budget configuration (docs/guarantees.md, items 44–46)."""

from __future__ import annotations

import logging
import os
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from ctxbudget.config import BudgetConfig, BudgetConfigManager, BudgetScope
from ctxbudget.config_files import user_config_path
from ctxbudget.errors import BudgetNotConfiguredError, ConfigError
from ctxbudget.tracking.usage import OperationType

DEFAULTS: dict[str, Any] = {
    "global": {"default": 50000, "max": 200000, "min": 1000, "enabled": True},
    "tools": {
        "claude": {"default": 100000, "max": 200000, "min": 1000, "enabled": True,
                   "operations": {"context_injection": 50000, "user_query": 50000}},
        "codex": {"default": 4000, "max": 8000, "min": 1000, "enabled": True,
                  "operations": {"context_injection": 2000, "user_query": 2000}},
        "gemini": {"default": 32000, "max": 64000, "min": 1000, "enabled": True,
                   "operations": {"context_injection": 16000, "user_query": 16000}},
    },
}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No real user config and no CTXBUDGET_BUDGET* variables leak into these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    for var in list(os.environ):
        if var.startswith("CTXBUDGET_BUDGET"):
            monkeypatch.delenv(var)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- BudgetConfig ---------------------------------------------------------------------------------------


def test_scope_values() -> None:
    assert [s.value for s in BudgetScope] == ["global", "tool", "operation"]


def test_budget_config_defaults() -> None:
    cfg = BudgetConfig(BudgetScope.TOOL, "x", 5000)
    assert (cfg.max_budget, cfg.min_budget, cfg.enabled, cfg.operation_budgets, cfg.metadata) == (
        None, 1000, True, {}, {}
    )


@pytest.mark.guarantee(45)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"default_budget": 500, "max_budget": 800, "min_budget": 1000},
         "max_budget (800) must be >= min_budget (1000)"),
        ({"default_budget": 500, "max_budget": 2000, "min_budget": 1000},
         "default_budget (500) must be >= min_budget (1000)"),
        ({"default_budget": 3000, "max_budget": 2000, "min_budget": 1000},
         "default_budget (3000) must be <= max_budget (2000)"),
        ({"default_budget": True}, "default_budget must be an int, got bool (True)"),
        ({"default_budget": 5000, "min_budget": 1000.0}, "min_budget must be an int, got float (1000.0)"),
        ({"default_budget": 5000, "max_budget": "9"}, "max_budget must be an int or None, got str ('9')"),
        ({"default_budget": 5000, "min_budget": -1}, "min_budget must be >= 0, got -1"),
        ({"default_budget": 5000, "enabled": 1}, "enabled must be a bool, got int (1)"),
        ({"default_budget": 5000, "operation_budgets": {"typing": 2000}},
         "unknown operation type 'typing' (expected one of context_injection, user_query, rule_retrieval, "
         "formatting, compression, search, batch_processing, other)"),
        ({"default_budget": 5000, "operation_budgets": {"search": 500}},
         "operation budget search (500) must be >= min_budget (1000)"),
        ({"default_budget": 5000, "max_budget": 6000, "operation_budgets": {"search": 7000}},
         "operation budget search (7000) must be <= max_budget (6000)"),
        ({"default_budget": 5000, "operation_budgets": {"search": False}},
         "operation budget search must be an int, got bool (False)"),
    ],
)
def test_budget_config_validation_messages(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        BudgetConfig(BudgetScope.TOOL, "x", **kwargs)
    assert str(info.value) == message


def test_budget_config_normalises_operation_keys() -> None:
    cfg = BudgetConfig(BudgetScope.TOOL, "x", 5000, operation_budgets={OperationType.SEARCH: 2000})
    assert cfg.operation_budgets == {"search": 2000}
    with pytest.raises(ConfigError, match="the global budget has no operation budgets"):
        BudgetConfig(BudgetScope.GLOBAL, "global", 5000, operation_budgets={"search": 2000})


# -- defaults and lookup --------------------------------------------------------------------------------


def test_defaults_exact() -> None:
    manager = BudgetConfigManager()
    assert manager.get_all_budgets() == DEFAULTS
    assert manager.get_config() == BudgetConfig(BudgetScope.GLOBAL, "global", 50000, 200000, 1000, True)
    assert manager.get_config("codex") == BudgetConfig(
        BudgetScope.TOOL, "codex", 4000, 8000, 1000, True, {"context_injection": 2000, "user_query": 2000}
    )
    assert manager.get_config("aider") is None
    assert manager.source is None


@pytest.mark.parametrize(
    ("tool", "op", "expected"),
    [
        ("claude", OperationType.CONTEXT_INJECTION, 50000),
        ("claude", "user_query", 50000),
        ("claude", OperationType.SEARCH, 100000),
        ("claude", None, 100000),
        ("CODEX", None, 4000),
        ("codex", "context_injection", 2000),
        ("gemini", "user_query", 16000),
        ("aider", None, 50000),
        ("aider", "search", 50000),
        (None, None, 50000),
    ],
)
def test_get_budget_precedence(tool: str | None, op: OperationType | str | None, expected: int) -> None:
    assert BudgetConfigManager().get_budget(tool, op) == expected


def test_get_budget_rejects_unknown_operation() -> None:
    with pytest.raises(ValueError, match="unknown operation type: 'typing'"):
        BudgetConfigManager().get_budget("claude", "typing")


@pytest.mark.guarantee(44)
def test_enabled_flags_are_honoured_in_lookup() -> None:
    manager = BudgetConfigManager()
    manager.set_enabled("claude", False)
    assert manager.get_budget("claude", "context_injection") == 50000  # falls through to global
    assert manager.get_budget("claude") == 50000
    manager.set_enabled(None, False)
    assert manager.get_budget("codex") == 4000
    with pytest.raises(BudgetNotConfiguredError, match="no enabled budget for tool='claude'"):
        manager.get_budget("claude")
    with pytest.raises(BudgetNotConfiguredError):
        manager.get_budget("aider")
    with pytest.raises(BudgetNotConfiguredError):
        manager.get_budget()
    with pytest.raises(KeyError):
        manager.set_enabled("aider", True)


@pytest.mark.guarantee(44)
def test_enabled_flags_are_honoured_in_validate_budget() -> None:
    manager = BudgetConfigManager()
    assert manager.validate_budget(8000, "codex") is True
    assert manager.validate_budget(8001, "codex") is False
    assert manager.validate_budget(999, "codex") is False
    manager.set_enabled("codex", False)
    assert manager.validate_budget(8001, "codex") is True  # codex is not used: global limits apply
    assert manager.validate_budget(200001, "codex") is False
    manager.set_enabled(None, False)
    assert manager.validate_budget(200001, "codex") is True  # no limits in force
    assert manager.validate_budget(-1, "codex") is False


@pytest.mark.guarantee(44)
def test_set_budget_keeps_a_disabled_tool_disabled() -> None:
    manager = BudgetConfigManager()
    manager.set_enabled("codex", False)
    manager.set_budget("codex", None, 6000)
    assert manager.get_all_budgets()["tools"]["codex"]["enabled"] is False
    assert manager.get_budget("codex") == 50000
    with pytest.raises(ConfigError, match="Budget 9000 exceeds tool max 8000"):
        manager.set_budget("codex", None, 9000)  # min/max still enforced on a disabled level


@pytest.mark.parametrize(
    ("budget", "tool", "expected"),
    [(1000, None, True), (200000, None, True), (999, None, False), (200001, None, False),
     (1000, "codex", True), (8000, "codex", True), (8001, "codex", False), (150000, "aider", True),
     (True, None, False), (5000.0, None, False), ("5000", "codex", False)],
)
def test_validate_budget(budget: Any, tool: str | None, expected: bool) -> None:
    assert BudgetConfigManager().validate_budget(budget, tool) is expected


# -- set_budget -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((None, None, 500), ConfigError, "Budget must be >= 1000, got 500"),
        ((None, None, 300000), ConfigError, "Budget 300000 exceeds global max 200000"),
        (("codex", None, 9000), ConfigError, "Budget 9000 exceeds tool max 8000"),
        (("codex", "user_query", 9000), ConfigError, "Budget 9000 exceeds tool max 8000"),
        (("claude", "search", 10), ConfigError, "Budget must be >= 1000, got 10"),
        (("aider", None, 250000), ConfigError, "Budget 250000 exceeds tool max 200000"),
        ((None, "user_query", 2000), ValueError, "an operation budget needs a tool_name"),
        ((None, None, True), ConfigError, "Budget must be an int, got bool (True)"),
        (("claude", None, 1.5e4), ConfigError, "Budget must be an int, got float (15000.0)"),
    ],
)
@pytest.mark.guarantee(46)
def test_set_budget_errors(args: tuple[Any, Any, Any], error: type[Exception], message: str) -> None:
    manager = BudgetConfigManager()
    with pytest.raises(error) as info:
        manager.set_budget(*args)
    assert str(info.value) == message
    assert manager.get_all_budgets() == DEFAULTS


def test_set_budget_levels() -> None:
    manager = BudgetConfigManager()
    manager.set_budget(budget=60000)
    manager.set_budget("codex", budget=8000)
    manager.set_budget("Claude", OperationType.SEARCH, 30000)
    manager.set_budget("aider", budget=7000)
    manager.set_budget("zed", "user_query", 3000)
    budgets = manager.get_all_budgets()
    assert budgets["global"]["default"] == 60000
    assert budgets["tools"]["codex"]["default"] == 8000
    assert budgets["tools"]["claude"]["operations"] == {
        "context_injection": 50000, "user_query": 50000, "search": 30000
    }
    assert budgets["tools"]["aider"] == {"default": 7000, "max": 200000, "min": 1000, "enabled": True,
                                         "operations": {}}
    assert budgets["tools"]["zed"] == {"default": 60000, "max": 200000, "min": 1000, "enabled": True,
                                       "operations": {"user_query": 3000}}
    assert manager.get_budget("zed", "user_query") == 3000
    manager.reset_to_defaults()
    assert manager.get_all_budgets() == DEFAULTS


def test_getters_return_copies() -> None:
    manager = BudgetConfigManager()
    cfg = manager.get_config("claude")
    assert cfg is not None
    cfg.operation_budgets["search"] = 1
    cfg.metadata["x"] = 1
    everything = manager.get_all_budgets()
    everything["tools"]["claude"]["operations"].clear()
    everything["global"]["default"] = 1
    assert manager.get_all_budgets() == DEFAULTS


# -- files ----------------------------------------------------------------------------------------------


def test_yaml_round_trip(tmp_path: Path) -> None:
    manager = BudgetConfigManager()
    manager.set_budget(budget=70000)
    manager.set_budget("codex", "search", 3000)
    manager.set_budget("aider", budget=9000)
    manager.set_enabled("gemini", False)
    target = tmp_path / "deep" / "budgets.yaml"
    manager.save_to_file(str(target))

    loaded = BudgetConfigManager(target)
    assert loaded.get_all_budgets() == manager.get_all_budgets()
    assert loaded.source == target
    data = yaml.safe_load(target.read_text(encoding="utf-8"))
    assert data == {"token_budgets": manager.get_all_budgets()}
    assert "  global:\n    default: 70000\n" in target.read_text(encoding="utf-8")


def test_yaml_save_writes_max_null_when_unset(tmp_path: Path) -> None:
    source = write(tmp_path / "in.yaml", """
        token_budgets:
          global: {default: 5000}
          tools:
            tiny: {default: 1000, min: 0, metadata: {owner: me}}
    """)
    manager = BudgetConfigManager(source)
    manager.save_to_file(tmp_path / "out.yaml")
    text = (tmp_path / "out.yaml").read_text(encoding="utf-8")
    assert "max: null" in text
    assert yaml.safe_load(text)["token_budgets"]["tools"]["tiny"] == {
        "default": 1000, "max": None, "min": 0, "enabled": True, "operations": {}, "metadata": {"owner": "me"}
    }
    assert BudgetConfigManager(tmp_path / "out.yaml").to_dict() == manager.to_dict()


def test_load_replaces_named_entries_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        token_budgets:
          global: {default: 60000}
          tools:
            codex:
              default: 3000
              operations: null
            Aider: {default: 2000, max: 4000}
    """)
    manager = BudgetConfigManager()
    assert manager.load_from_file(path) is True
    budgets = manager.get_all_budgets()
    assert budgets["global"] == {"default": 60000, "max": None, "min": 1000, "enabled": True}
    assert budgets["tools"]["codex"] == {"default": 3000, "max": None, "min": 1000, "enabled": True,
                                         "operations": {}}
    assert budgets["tools"]["aider"]["max"] == 4000
    assert budgets["tools"]["claude"] == DEFAULTS["tools"]["claude"]
    assert budgets["tools"]["gemini"] == DEFAULTS["tools"]["gemini"]


@pytest.mark.guarantee(45)
def test_operations_null_is_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        token_budgets:
          tools:
            claude: {default: 90000, operations: null}
    """)
    manager = BudgetConfigManager(path)
    assert manager.get_all_budgets()["tools"]["claude"]["operations"] == {}
    assert manager.get_budget("claude", "context_injection") == 90000


@pytest.mark.guarantee(44)
def test_enabled_false_in_a_file_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", """
        token_budgets:
          global: {default: 40000, enabled: false}
          tools:
            claude: {default: 90000, enabled: false, operations: {user_query: 20000}}
    """)
    manager = BudgetConfigManager(path)
    assert manager.get_budget("codex") == 4000
    with pytest.raises(BudgetNotConfiguredError):
        manager.get_budget("claude", "user_query")
    assert manager.validate_budget(10**9, "claude") is True


def test_toml_load(tmp_path: Path) -> None:
    path = write(tmp_path / "ctxbudget.toml", """
        [token_budgets.global]
        default = 60000
        max = 100000

        [token_budgets.tools.claude]
        default = 80000
        max = 100000

        [token_budgets.tools.claude.operations]
        context_injection = 40000
    """)
    manager = BudgetConfigManager(path)
    assert manager.get_all_budgets()["global"] == {"default": 60000, "max": 100000, "min": 1000,
                                                   "enabled": True}
    assert manager.get_budget("claude", "context_injection") == 40000
    assert manager.get_budget("claude", "user_query") == 80000
    assert manager.get_all_budgets()["tools"]["codex"] == DEFAULTS["tools"]["codex"]


def test_pyproject_tool_table_load(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", """
        [project]
        name = "demo"

        [tool.ctxbudget.token_budgets.tools.codex]
        default = 6000
        max = 8000
    """)
    manager = BudgetConfigManager(path)
    assert manager.get_budget("codex") == 6000
    with pytest.raises(ConfigError, match=r"refusing to overwrite pyproject\.toml"):
        manager.save_to_file(path)


def test_toml_round_trip(tmp_path: Path) -> None:
    manager = BudgetConfigManager()
    manager.set_budget("my tool", "search", 5000)
    manager.set_enabled("codex", False)
    manager.set_budget(budget=1000)
    path = tmp_path / "ctxbudget.toml"
    manager.save_to_file(path)
    assert BudgetConfigManager(path).get_all_budgets() == manager.get_all_budgets()
    assert '[token_budgets.tools."my tool".operations]' in path.read_text(encoding="utf-8")


@pytest.mark.guarantee(46)
def test_missing_file_returns_false_and_keeps_defaults(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manager = BudgetConfigManager()
    manager.set_budget("codex", None, 5000)
    caplog.set_level(logging.WARNING, logger="ctxbudget.config")
    assert manager.load_from_file(tmp_path / "nope.yaml") is False
    assert manager.get_budget("codex") == 5000
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert BudgetConfigManager(tmp_path / "nope.yaml").get_all_budgets() == DEFAULTS


def test_malformed_yaml_raises_yaml_error(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "token_budgets:\n  tools:\n    codex: {default: 1000\n  global: {}\n")
    with pytest.raises(yaml.YAMLError) as info:
        BudgetConfigManager().load_from_file(path)
    assert isinstance(info.value, ConfigError)  # so every command reports it as one line, exit 2
    assert str(info.value) == (f"{path}:4:9: invalid YAML at token_budgets.tools.codex: expected ',' or '}}', "
                               "but got ':' (while parsing a flow mapping at line 3)")


def test_malformed_toml_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path / "ctxbudget.toml", "[token_budgets.tools.codex]\ndefault = 1000\nmax = \n")
    with pytest.raises(tomllib.TOMLDecodeError) as info:
        BudgetConfigManager(path)
    assert isinstance(info.value, ConfigError)
    assert str(info.value) == f"{path}:3:7: invalid TOML at token_budgets.tools.codex.max: Invalid value"


@pytest.mark.parametrize("text", ["", "# only a comment\n", "other_section: {a: 1}\n", "token_budgets:\n"])
def test_empty_or_missing_section_keeps_defaults(
    tmp_path: Path, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path / "c.yaml", text)
    manager = BudgetConfigManager()
    caplog.set_level(logging.WARNING, logger="ctxbudget.config")
    assert manager.load_from_file(path) is True
    assert manager.get_all_budgets() == DEFAULTS
    assert len(caplog.records) == 1
    assert "has no token_budgets section" in caplog.text


INVALID_YAML = [
    ("tools: {codex: {default: abc}}", "token_budgets.tools.codex.default", "expected an integer, got str"),
    ("tools: {codex: {default: true}}", "token_budgets.tools.codex.default", "got bool (True)"),
    ("tools: {codex: {default: 4000.0}}", "token_budgets.tools.codex.default", "got float (4000.0)"),
    ("tools: {codex: {default: null}}", "token_budgets.tools.codex.default", "got null"),
    ("global: {max: big}", "token_budgets.global.max", "expected an integer or null"),
    ("global: {min: -1}", "token_budgets.global.min", "min_budget must be >= 0, got -1"),
    ("global: {enabled: 'yes'}", "token_budgets.global.enabled", "expected true or false"),
    ("global: {maximum: 5}", "token_budgets.global.maximum", "unknown key"),
    ("global: {operations: {search: 2000}}", "token_budgets.global.operations", "unknown key"),
    ("global: null", "token_budgets.global", "expected a mapping, got null"),
    ("limits: {}", "token_budgets.limits", "unknown key (expected one of global, tools)"),
    ("tools: [claude, codex]", "token_budgets.tools", "expected a mapping, got list"),
    ("tools: {claude: null}", "token_budgets.tools.claude", "expected a mapping, got null"),
    ("tools: {claude: {operations: [search]}}", "token_budgets.tools.claude.operations", "got list"),
    ("tools: {claude: {operations: {typing: 2000}}}", "token_budgets.tools.claude.operations.typing",
     "unknown operation type"),
    ("tools: {claude: {operations: {user_query: '2000'}}}",
     "token_budgets.tools.claude.operations.user_query", "expected an integer, got str"),
    ("tools: {codex: {default: 4000, max: 8000, operations: {context_injection: 9000}}}",
     "token_budgets.tools.codex.operations.context_injection",
     "operation budget context_injection (9000) must be <= max_budget (8000)"),
    ("tools: {codex: {default: 9000, max: 8000}}", "token_budgets.tools.codex.default",
     "default_budget (9000) must be <= max_budget (8000)"),
    ("global: {max: 500}", "token_budgets.global.max", "max_budget (500) must be >= min_budget (1000)"),
    ("tools: {codex: {default: 500}}", "token_budgets.tools.codex.default",
     "default_budget (500) must be >= min_budget (1000)"),
    ("tools: {123: {default: 5000}}", "token_budgets.tools.123", "a tool name must be a non-empty string"),
    ("tools: {Claude: {default: 5000}, claude: {default: 6000}}", "token_budgets.tools.claude",
     "configured twice"),
    ("tools: {claude: {metadata: 5}}", "token_budgets.tools.claude.metadata", "expected a mapping, got int"),
    ("tools: {claude: {enabled: 0}}", "token_budgets.tools.claude.enabled", "expected true or false"),
]


@pytest.mark.guarantee(45)
@pytest.mark.parametrize(("body", "key_path", "problem"), INVALID_YAML)
def test_invalid_yaml_names_file_and_key_path(tmp_path: Path, body: str, key_path: str, problem: str) -> None:
    path = write(tmp_path / "budgets.yaml", f"token_budgets:\n  {body}\n")
    manager = BudgetConfigManager()
    with pytest.raises(ConfigError) as info:
        manager.load_from_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}:2: {key_path}: ")  # file, line and key path
    assert problem in message
    assert manager.get_all_budgets() == DEFAULTS  # a failed load changes nothing


@pytest.mark.guarantee(45)
@pytest.mark.parametrize(
    ("name", "text", "where"),
    [
        ("budgets.yaml", "- a\n- b\n", ": <top level>"),
        ("budgets.yaml", "token_budgets: 5\n", ":1: token_budgets"),
        ("ctxbudget.toml", '[token_budgets.tools.codex]\ndefault = "x"\n',
         ":2: token_budgets.tools.codex.default"),
        ("ctxbudget.toml", "[token_budgets]\nglobal = 5\n", ":2: token_budgets.global"),
        ("pyproject.toml", "[tool.ctxbudget.token_budgets.global]\ndefault = true\n",
         ":2: tool.ctxbudget.token_budgets.global.default"),
        ("pyproject.toml", "[tool]\nctxbudget = 3\n", ":2: tool.ctxbudget"),
        ("ctxbudget.toml", "[token_budgets.tools]\ncodex = {default = 1000, operations = {typing = 5}}\n",
         ":2: token_budgets.tools.codex.operations.typing"),
    ],
)
def test_invalid_structure_and_toml_name_key_path(tmp_path: Path, name: str, text: str, where: str) -> None:
    path = write(tmp_path / name, text)
    with pytest.raises(ConfigError) as info:
        BudgetConfigManager(path)
    assert str(info.value).startswith(f"{path}{where}: ")


def test_invalid_yaml_table_has_at_least_15_cases() -> None:
    assert len(INVALID_YAML) >= 15


@pytest.mark.guarantee(46)
def test_crash_mid_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "budgets.yaml"
    BudgetConfigManager().save_to_file(path)
    before = path.read_bytes()
    manager = BudgetConfigManager()
    manager.set_budget(budget=99000)

    def crash(src: object, dst: object) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        manager.save_to_file(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["budgets.yaml"]
    assert BudgetConfigManager(path).get_all_budgets() == DEFAULTS


# -- discovery and environment ---------------------------------------------------------------------------


def test_user_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert user_config_path({"XDG_CONFIG_HOME": "/x/y"}) == Path("/x/y/ctxbudget/config.yaml")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home/.config/ctxbudget/config.yaml"
    assert user_config_path({"XDG_CONFIG_HOME": "relative"}) == expected
    assert user_config_path({}) == expected


def test_discovery_nearest_directory_first(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    write(root / "ctxbudget.toml", "[token_budgets.tools.codex]\ndefault = 5000\n")
    write(root / "sub" / ".ctxbudget.yaml", "token_budgets: {tools: {codex: {default: 6000}}}\n")
    deeper = root / "sub" / "a" / "b"
    deeper.mkdir(parents=True)
    assert BudgetConfigManager.find_config_file(deeper) == root / "sub" / ".ctxbudget.yaml"
    manager = BudgetConfigManager.discover(deeper, environ={})
    assert manager.get_budget("codex") == 6000
    assert manager.source == root / "sub" / ".ctxbudget.yaml"
    assert BudgetConfigManager.discover(root, environ={}).get_budget("codex") == 5000


def test_discovery_order_within_a_directory(tmp_path: Path) -> None:
    write(tmp_path / ".ctxbudget.yaml", "token_budgets: {tools: {codex: {default: 1001}}}\n")
    assert BudgetConfigManager.find_config_file(tmp_path) == tmp_path / ".ctxbudget.yaml"
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")  # no tool table: skipped
    assert BudgetConfigManager.find_config_file(tmp_path) == tmp_path / ".ctxbudget.yaml"
    write(tmp_path / "pyproject.toml", "[tool.ctxbudget.token_budgets.tools.codex]\ndefault = 1002\n")
    assert BudgetConfigManager.find_config_file(tmp_path) == tmp_path / "pyproject.toml"
    write(tmp_path / "ctxbudget.toml", "[token_budgets.tools.codex]\ndefault = 1003\n")
    assert BudgetConfigManager.find_config_file(tmp_path) == tmp_path / "ctxbudget.toml"
    write(tmp_path / "ctxbudget.yaml", "token_budgets: {tools: {codex: {default: 1004}}}\n")
    assert BudgetConfigManager.find_config_file(tmp_path) == tmp_path / "ctxbudget.yaml"
    assert BudgetConfigManager.discover(tmp_path, environ={}).get_budget("codex") == 1004


def test_discovery_skips_a_malformed_pyproject(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path / "pyproject.toml", "[tool\n")
    assert BudgetConfigManager.find_config_file(tmp_path / "", environ={}) is None
    assert "ignoring unreadable" in caplog.text


def test_discovery_falls_back_to_user_config_then_defaults(tmp_path: Path) -> None:
    project = tmp_path / "empty-project"
    project.mkdir()
    environ = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    manager = BudgetConfigManager.discover(project, environ=environ)
    assert manager.get_all_budgets() == DEFAULTS
    assert manager.source is None
    user = write(tmp_path / "cfg" / "ctxbudget" / "config.yaml", "token_budgets: {global: {default: 7000}}\n")
    manager = BudgetConfigManager.discover(project, environ=environ)
    assert manager.get_budget() == 7000
    assert manager.source == user


def test_discovery_defaults_to_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "ctxbudget.yaml", "token_budgets: {tools: {gemini: {default: 9000}}}\n")
    monkeypatch.chdir(tmp_path)
    assert BudgetConfigManager.discover().get_budget("gemini") == 9000


def test_env_overrides_win_over_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "ctxbudget.yaml", """
        token_budgets:
          global: {default: 40000, max: 200000}
          tools:
            claude: {default: 90000, max: 200000, operations: {context_injection: 30000}}
    """)
    monkeypatch.setenv("CTXBUDGET_BUDGET", "60000")
    monkeypatch.setenv("CTXBUDGET_BUDGET_CLAUDE", "80000")
    monkeypatch.setenv("CTXBUDGET_BUDGET_CLAUDE_CONTEXT_INJECTION", "45_000")
    monkeypatch.setenv("CTXBUDGET_BUDGET_CODEX_USER_QUERY", " 3000 ")
    monkeypatch.setenv("CTXBUDGET_BUDGET_MY_TOOL", "12000")
    monkeypatch.setenv("CTXBUDGET_BUDGET_GEMINI", "")  # empty: ignored
    manager = BudgetConfigManager.discover(tmp_path)
    assert manager.get_budget() == 60000
    assert manager.get_budget("claude") == 80000
    assert manager.get_budget("claude", "context_injection") == 45000
    assert manager.get_budget("codex", "user_query") == 3000
    assert manager.get_budget("my_tool") == 12000
    assert manager.get_budget("gemini") == 32000
    assert manager.env_overrides == {
        "CTXBUDGET_BUDGET": 60000, "CTXBUDGET_BUDGET_CLAUDE": 80000,
        "CTXBUDGET_BUDGET_CLAUDE_CONTEXT_INJECTION": 45000, "CTXBUDGET_BUDGET_CODEX_USER_QUERY": 3000,
        "CTXBUDGET_BUDGET_MY_TOOL": 12000,
    }


def test_plain_constructor_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_BUDGET_CLAUDE", "80000")
    assert BudgetConfigManager().get_all_budgets() == DEFAULTS


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CTXBUDGET_BUDGET_CLAUDE": "lots"},
         "CTXBUDGET_BUDGET_CLAUDE: expected a non-negative integer, got 'lots'"),
        ({"CTXBUDGET_BUDGET": "-5"}, "CTXBUDGET_BUDGET: expected a non-negative integer, got '-5'"),
        ({"CTXBUDGET_BUDGET_CODEX": "9000"}, "CTXBUDGET_BUDGET_CODEX: Budget 9000 exceeds tool max 8000"),
        ({"CTXBUDGET_BUDGET": "10"}, "CTXBUDGET_BUDGET: Budget must be >= 1000, got 10"),
        ({"CTXBUDGET_BUDGET_": "5000"}, "CTXBUDGET_BUDGET_: missing the tool name"),
        ({"CTXBUDGET_BUDGET": "60000", "CTXBUDGET_BUDGET_CLAUDE_SEARCH": "300000"},
         "CTXBUDGET_BUDGET_CLAUDE_SEARCH: Budget 300000 exceeds tool max 200000"),
    ],
)
def test_bad_env_override_names_the_variable_and_applies_nothing(
    environ: dict[str, str], message: str
) -> None:
    manager = BudgetConfigManager()
    with pytest.raises(ConfigError) as info:
        manager.apply_env_overrides(environ)
    assert str(info.value).startswith(message)
    assert manager.get_all_budgets() == DEFAULTS
    assert manager.env_overrides == {}


def test_bad_env_override_fails_discover(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXBUDGET_BUDGET_CODEX", "0x10")
    with pytest.raises(ConfigError, match="CTXBUDGET_BUDGET_CODEX: expected a non-negative integer"):
        BudgetConfigManager.discover(tmp_path)
