"""The startup-load simulations of Claude Code, Codex CLI and Gemini CLI, over real temporary trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ctxbudget.agents import AGENTS, AgentLoad, NotLoaded, simulate
from ctxbudget.agents import claude_code as cc
from ctxbudget.agents import gemini_cli as gc

KIB32 = 32 * 1024


def write(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    (path / ".git").mkdir(parents=True)
    return path


def codex(cwd: Path, home: Path, **settings: object) -> AgentLoad:
    return simulate("codex", cwd, home=home, env={}, settings=settings)


def codex_wrap(cwd: Path, body: str) -> str:
    return f"# AGENTS.md instructions for {cwd}\n\n<INSTRUCTIONS>\n{body}\n</INSTRUCTIONS>"


def names(load: AgentLoad, root: Path) -> list[str]:
    return [path.relative_to(root).as_posix() for path in (f.path for f in load.files)]


# ---------------------------------------------------------------- Codex


def test_codex_upstream_total_limit_case(repo: Path, home: Path) -> None:
    write(repo, {"AGENTS.md": "root", "crate/AGENTS.md": "abcdef"})
    load = codex(repo / "crate", home, project_doc_max_bytes=7)
    assert load.text == codex_wrap(repo / "crate", "root\n\nabc")
    assert [(f.text, f.raw_bytes, f.truncated) for f in load.files] == [("root", 4, False), ("abc", 6, True)]
    assert load.warnings == (f"Codex cut {repo / 'crate/AGENTS.md'} at 3 of 6 bytes (7 bytes total for project "
                             "docs); project docs after it are dropped",)


def test_codex_global_then_project_with_separator_and_wrapper(repo: Path, home: Path) -> None:
    write(home, {".codex/AGENTS.override.md": " \n\t", ".codex/AGENTS.md": "\n  global rules \n\n"})
    write(repo, {"AGENTS.md": "root doc\n", "a/AGENTS.md": "a doc", "a/AGENTS.override.md": "a override\n",
                 "a/b/TEAM.md": "team"})
    (repo / "a/b/AGENTS.md").mkdir()  # a directory is no candidate: the next name is tried
    load = codex(repo / "a/b", home, project_doc_fallback_filenames=["", "TEAM.md", "TEAM.md"])
    assert names(load, repo.parent) == ["home/.codex/AGENTS.md", "repo/AGENTS.md", "repo/a/AGENTS.override.md",
                                        "repo/a/b/TEAM.md"]
    assert load.files[0].scope == "user" and load.files[0].text == "global rules"
    assert load.text == codex_wrap(repo / "a/b", "global rules\n\n--- project-doc ---\n\nroot doc\n\n\n"
                                                 "a override\n\n\nteam")
    assert load.not_loaded == (NotLoaded(home / ".codex/AGENTS.override.md", "user",
                                         "empty after trimming; Codex tries the next name"),)


def test_codex_global_only_and_include_user(repo: Path, home: Path, tmp_path: Path) -> None:
    write(tmp_path, {"ch/AGENTS.md": "from CODEX_HOME", "ch/config.toml": "project_doc_max_bytes = 0\n"})
    write(repo, {"AGENTS.md": "project"})
    load = simulate("codex", repo, home=home, env={"CODEX_HOME": str(tmp_path / "ch")})
    assert load.text == codex_wrap(repo, "from CODEX_HOME")
    assert load.not_loaded == (NotLoaded(repo / "AGENTS.md", "project",
                                         "project_doc_max_bytes = 0 turns project docs off"),)
    load = simulate("codex", repo, home=home, env={"CODEX_HOME": str(tmp_path / "ch")}, include_user=False)
    assert load.text == "" and load.files == ()


def test_codex_config_toml_is_read_and_settings_override_it(repo: Path, home: Path) -> None:
    write(home, {".codex/config.toml": 'project_doc_max_bytes = 2\nproject_doc_fallback_filenames = ["X.md"]\n'})
    write(repo, {"X.md": "xyz"})
    assert codex(repo, home).text == codex_wrap(repo, "xy")
    assert codex(repo, home, project_doc_max_bytes=3).text == codex_wrap(repo, "xyz")


def test_codex_project_root_is_first_ancestor_with_git_entry(tmp_path: Path, home: Path) -> None:
    write(tmp_path, {"AGENTS.md": "above the root", "wt/.git": "gitdir: elsewhere", "wt/AGENTS.md": "root",
                     "wt/sub/AGENTS.md": "sub"})
    assert codex(tmp_path / "wt/sub", home).text == codex_wrap(tmp_path / "wt/sub", "root\n\nsub")
    # without any marker only the cwd is searched
    write(tmp_path, {"plain/AGENTS.md": "parent", "plain/deeper/AGENTS.md": "cwd only"})
    os.remove(tmp_path / "wt/.git")
    assert codex(tmp_path / "plain/deeper", home).text == codex_wrap(tmp_path / "plain/deeper", "cwd only")
    assert codex(tmp_path / "plain/deeper", home, project_root_markers=[]).text.endswith("cwd only\n</INSTRUCTIONS>")


@pytest.mark.parametrize(("char", "left"), [("€", 1), ("€", 2), ("😀", 1), ("😀", 2), ("😀", 3)])
def test_codex_cut_inside_a_multibyte_char_gives_one_replacement_char(repo: Path, home: Path, char: str,
                                                                      left: int) -> None:
    head = "a" * (KIB32 - left)
    write(repo, {"AGENTS.md": head + char + "tail", "sub/AGENTS.md": "dropped"})
    load = codex(repo / "sub", home)
    assert load.text == codex_wrap(repo / "sub", head + "\ufffd")
    assert len(load.files[0].text.encode()) == KIB32 - left + 3  # the cut grows by 3 - left bytes
    assert load.warnings == (f"Codex cut {repo / 'AGENTS.md'} at {KIB32} of {KIB32 - left + len(char.encode()) + 4} "
                             "bytes (32 KiB total for project docs) (the cut splits a UTF-8 character, which becomes "
                             "U+FFFD); project docs after it are dropped",)
    assert load.not_loaded == (NotLoaded(repo / "sub/AGENTS.md", "project",
                                         "dropped: the 32 KiB project doc budget is used up"),)


def test_codex_budget_is_one_total_and_exact_fit_is_kept_whole(repo: Path, home: Path) -> None:
    first = "x" * 30000
    second = "€" * ((KIB32 - 30000) // 3) + "yy"  # exactly the remaining 2768 bytes
    assert len(first.encode()) + len(second.encode()) == KIB32
    write(repo, {"AGENTS.md": first, "a/AGENTS.md": " \n\n\t", "a/b/AGENTS.md": second, "a/b/c/AGENTS.md": "late"})
    load = codex(repo / "a/b/c", home)
    assert load.text == codex_wrap(repo / "a/b/c", first + "\n\n" + second)
    assert load.warnings == ()
    assert [f.truncated for f in load.files] == [False, False]
    assert load.not_loaded == (
        NotLoaded(repo / "a/AGENTS.md", "project", "whitespace only; uses no budget"),
        NotLoaded(repo / "a/b/c/AGENTS.md", "project", "dropped: the 32 KiB project doc budget is used up"))


def test_codex_whitespace_only_file_uses_no_budget(repo: Path, home: Path) -> None:
    write(repo, {"AGENTS.md": "   \n", "sub/AGENTS.md": "12345"})
    assert codex(repo / "sub", home, project_doc_max_bytes=5).text == codex_wrap(repo / "sub", "12345")


def test_codex_invalid_utf8_is_replaced_and_reported(repo: Path, home: Path) -> None:
    write(repo, {"AGENTS.md": b"ok \xff\xfe end"})
    load = codex(repo, home)
    assert load.text == codex_wrap(repo, "ok \ufffd\ufffd end")
    assert load.warnings == (f"{repo / 'AGENTS.md'}: not valid UTF-8; Codex replaces the bad bytes with U+FFFD",)


def test_codex_bad_settings_raise() -> None:
    from ctxbudget.errors import ConfigError

    with pytest.raises(ConfigError, match="project_doc_max_bytes"):
        simulate("codex", ".", home=".", env={}, settings={"project_doc_max_bytes": -1})


# ---------------------------------------------------------------- Claude Code


def claude(cwd: Path, home: Path, tmp_path: Path, *, include_user: bool = True) -> AgentLoad:
    return simulate("claude", cwd, home=home, env={}, settings={"managed_path": str(tmp_path / "etc/CLAUDE.md")},
                    include_user=include_user)


def claude_text(*sections: tuple[Path, str, str]) -> str:
    body = [f"Contents of {path} ({cc.LABELS.get(kind, cc.GLOBAL_LABEL)}):\n\n{text}" for path, kind, text in sections]
    return "\n\n".join([cc.PREAMBLE, *body, cc.CLOSING])


def test_claude_load_order_and_text(tmp_path: Path, home: Path, repo: Path) -> None:
    write(tmp_path, {"etc/CLAUDE.md": "managed policy\n", "CLAUDE.md": "above the repo\n"})
    write(home, {".claude/CLAUDE.md": "user\n", ".claude/rules/b.md": "user rule b", ".claude/rules/a/z.md": "ur"})
    write(repo, {"CLAUDE.md": "repo", "CLAUDE.local.md": "repo local", "AGENTS.md": "never read by Claude",
                 "sub/.claude/CLAUDE.md": "dot", "sub/CLAUDE.md": "sub", "sub/CLAUDE.local.md": "sub local",
                 "sub/.claude/rules/r2.md": "rule 2", "sub/.claude/rules/deep/r1.md": "rule 1",
                 "sub/.claude/rules/notes.txt": "not markdown", "sub/below/CLAUDE.md": "below the cwd"})
    cwd = repo / "sub"
    load = claude(cwd, home, tmp_path)
    expected = [(tmp_path / "etc/CLAUDE.md", "managed", "managed policy"), (home / ".claude/CLAUDE.md", "user", "user"),
                (home / ".claude/rules/a/z.md", "rules", "ur"), (home / ".claude/rules/b.md", "rules", "user rule b"),
                (tmp_path / "CLAUDE.md", "project", "above the repo"), (repo / "CLAUDE.md", "project", "repo"),
                (repo / "CLAUDE.local.md", "local", "repo local"), (cwd / "CLAUDE.md", "project", "sub"),
                (cwd / ".claude/CLAUDE.md", "project", "dot"), (cwd / ".claude/rules/deep/r1.md", "rules", "rule 1"),
                (cwd / ".claude/rules/r2.md", "rules", "rule 2"), (cwd / "CLAUDE.local.md", "local", "sub local")]
    assert [(f.path, f.scope, f.text) for f in load.files] == expected
    kinds = ["managed", "user", "user", "user", "project", "project", "local", "project", "project", "project",
             "project", "local"]
    assert load.text == claude_text(*[(p, k, t) for (p, _, t), k in zip(expected, kinds, strict=True)])
    assert load.warnings == () and load.not_loaded == ()
    assert [f.path for f in claude(cwd, home, tmp_path, include_user=False).files][:2] == [
        tmp_path / "etc/CLAUDE.md", tmp_path / "CLAUDE.md"]


def test_claude_rules_with_paths_front_matter_wait_and_links_do_not_loop(tmp_path: Path, home: Path,
                                                                         repo: Path) -> None:
    write(repo, {".claude/rules/api.md": "---\npaths:\n  - src/api/**\n---\napi rule",
                 ".claude/rules/style.md": "---\ndescription: style\n---\nstyle rule\n"})
    (repo / ".claude/rules/loop").symlink_to(repo / ".claude/rules")
    load = claude(repo, home, tmp_path)
    assert [(f.path, f.text) for f in load.files] == [(repo / ".claude/rules/style.md", "style rule")]
    assert load.not_loaded == (NotLoaded(repo / ".claude/rules/api.md", "rules",
                                         "loads when Claude reads a matching file (paths: front matter)"),)


def test_claude_imports(tmp_path: Path, home: Path, repo: Path) -> None:
    write(home, {"notes.md": "home notes"})
    write(repo, {"CLAUDE.md": "See @docs/a.md and @~/notes.md\n`@docs/in-span.md`\n```\n@docs/in-fence.md\n```\n"
                              "mail me@docs/a.md\n@missing.md\n",
                 "docs/a.md": "A imports @./b/c.md and @../CLAUDE.md", "docs/b/c.md": f"C imports @{repo / 'z.md'}",
                 "z.md": "Z\n@docs/a.md"})
    load = claude(repo, home, tmp_path)
    assert [(f.path.relative_to(tmp_path).as_posix(), f.scope, f.depth, f.imported_by) for f in load.files] == [
        ("repo/CLAUDE.md", "project", 0, None), ("repo/docs/a.md", "import", 1, repo / "CLAUDE.md"),
        ("repo/docs/b/c.md", "import", 2, repo / "docs/a.md"), ("repo/z.md", "import", 3, repo / "docs/b/c.md"),
        ("home/notes.md", "import", 1, repo / "CLAUDE.md")]
    assert load.files[0].text == ("See @docs/a.md and @~/notes.md\n`@docs/in-span.md`\n```\n@docs/in-fence.md\n```\n"
                                  "mail me@docs/a.md\n@missing.md")
    assert load.warnings == (
        f"{repo / 'CLAUDE.md'}:1: @~/notes.md is outside the working directory; Claude Code asks once before loading "
        "such imports (simulated as approved)",
        f"broken @import missing.md in {repo / 'CLAUDE.md'}:7: no file at {repo / 'missing.md'} (Claude Code skips it "
        "silently)")
    assert load.files[-1].note == "external import: needs the one-time approval"
    assert load.text == claude_text(*[(f.path, "project", f.text) for f in load.files])


def test_claude_import_depth_is_four_hops_and_binary_is_left_out(tmp_path: Path, home: Path, repo: Path) -> None:
    chain = {"CLAUDE.md": "@1.md"} | {f"{i}.md": f"@{i + 1}.md" for i in range(1, 6)}
    write(repo, chain | {"1.md": "@2.md @bin.md", "bin.md": b"x\x00y"})
    load = claude(repo, home, tmp_path)
    assert [f.path.name for f in load.files] == ["CLAUDE.md", "1.md", "2.md", "3.md", "4.md"]
    assert load.warnings == (f"{repo / '4.md'}:1: @5.md is not followed; Claude Code follows imports at most 4 hops "
                             "deep",)
    assert load.not_loaded == (NotLoaded(repo / "bin.md", "import",
                                         "binary file (Claude Code 2.1.2+ does not include binary files)"),)


def test_claude_ancestor_imports_are_not_expanded(tmp_path: Path, home: Path, repo: Path) -> None:
    write(repo, {"CLAUDE.md": "root @shared.md", "shared.md": "shared", "pkg/CLAUDE.md": "pkg @../shared.md"})
    load = claude(repo / "pkg", home, tmp_path)
    assert [f.path for f in load.files] == [repo / "CLAUDE.md", repo / "pkg/CLAUDE.md", repo / "shared.md"]
    assert load.warnings[0] == (f"{repo / 'CLAUDE.md'}: Claude Code does not expand @imports in a CLAUDE.md above "
                                "the launch directory (open bug anthropics/claude-code#78697)")


def test_claude_import_cycle_loads_each_file_once(tmp_path: Path, home: Path, repo: Path) -> None:
    write(repo, {"CLAUDE.md": "@a.md", "a.md": "a @b.md", "b.md": "b @a.md @CLAUDE.md"})
    load = claude(repo, home, tmp_path)
    assert [f.path.name for f in load.files] == ["CLAUDE.md", "a.md", "b.md"]
    assert load.warnings == () and load.not_loaded == ()


def test_claude_strips_block_html_comments_only(tmp_path: Path, home: Path, repo: Path) -> None:
    write(repo, {"CLAUDE.md": "keep\n<!-- one line -->\n<!--\nmulti @gone.md\nline -->\ninline <!-- stays -->\n"
                              "   <!-- c --> after\n```html\n<!-- in code -->\n```\nend\n"})
    load = claude(repo, home, tmp_path)
    assert load.files[0].text == "keep\ninline <!-- stays -->\n after\n```html\n<!-- in code -->\n```\nend"
    assert load.warnings == ()


def test_claude_size_limit_and_large_file_warning(tmp_path: Path, home: Path, repo: Path) -> None:
    write(repo, {"CLAUDE.md": "x" * (4 * 1024 * 1024 + 1), "CLAUDE.local.md": "y" * 40_001})
    load = claude(repo, home, tmp_path)
    assert [f.path.name for f in load.files] == ["CLAUDE.local.md"]
    assert load.not_loaded == (NotLoaded(repo / "CLAUDE.md", "project", "larger than 4 MiB"),)
    assert load.warnings == (
        f"{repo / 'CLAUDE.md'}: 4194305 bytes is over Claude Code's 4 MiB limit; it skips the file",
        f"{repo / 'CLAUDE.local.md'}: 40.0k chars > 40.0k; Claude Code warns \"Large CLAUDE.md will impact "
        "performance\" (since 2.1.169 the threshold scales with the context window)")


def test_claude_scan_masks_code_spans() -> None:
    body, imports = cc.scan("a ``x @no.md`` @yes.md `y`@no2.md\n")
    assert body == "a ``x @no.md`` @yes.md `y`@no2.md\n"
    assert [(i.line, i.raw) for i in imports] == [(1, "yes.md")]


# ---------------------------------------------------------------- Gemini CLI


def gemini(cwd: Path, home: Path, *, include_user: bool = True, settings: dict[str, object] | None = None) -> AgentLoad:
    return simulate("gemini", cwd, home=home, env={}, include_user=include_user, settings=settings)


def gblock(path: Path, text: str) -> str:
    return f"--- Context from: {path} ---\n{text}\n--- End of Context from: {path} ---"


def test_gemini_tiers_order_and_sort_quirk(tmp_path: Path, home: Path, repo: Path) -> None:
    write(home, {".gemini/GEMINI.md": "\ufeff global \n"})
    write(tmp_path, {"GEMINI.md": "above the git root"})
    write(repo, {"GEMINI.md": "root\n", "A/GEMINI.md": "upper A", "A/b/GEMINI.md": "  \n", "A/b/c/GEMINI.md": "leaf",
                 "A/b/c/d/GEMINI.md": "below the cwd"})
    cwd = repo / "A/b/c"
    load = gemini(cwd, home)
    assert [f.path for f in load.files] == [home / ".gemini/GEMINI.md", repo / "A/GEMINI.md",
                                            repo / "A/b/c/GEMINI.md", repo / "GEMINI.md"]
    system = gc.SYSTEM_MEMORY.format(names="GEMINI.md", memory=gblock(home / ".gemini/GEMINI.md", "global"))
    session = ("<loaded_context>\n<project_context>\n" + gblock(repo / "A/GEMINI.md", "upper A") + "\n\n"
               + gblock(cwd / "GEMINI.md", "leaf") + "\n\n" + gblock(repo / "GEMINI.md", "root")
               + "\n</project_context>\n</loaded_context>")
    assert load.text == system + "\n\n" + session
    assert system.startswith("# Contextual Instructions (GEMINI.md)\nThe following content is loaded")
    assert load.not_loaded == (NotLoaded(repo / "A/b/GEMINI.md", "project", "empty after trimming"),)
    assert gemini(cwd, home, include_user=False).text == session


def test_gemini_file_names_from_settings(tmp_path: Path, home: Path, repo: Path) -> None:
    write(home, {".gemini/settings.json": json.dumps({"context": {"fileName": "USER.md"}}), ".gemini/USER.md": "u"})
    write(repo, {".gemini/settings.json": json.dumps({"context": {"fileName": [" AGENTS.md ", "docs/../CTX.md"]}}),
                 "AGENTS.md": "agents", "CTX.md": "ctx", "GEMINI.md": "gemini", "USER.md": "not configured here"})
    load = gemini(repo, home)
    assert [f.path.name for f in load.files] == ["AGENTS.md", "CTX.md", "GEMINI.md"]
    assert load.text.startswith("<loaded_context>")  # ~/.gemini/USER.md is not a configured name any more
    load = gemini(repo, home, settings={"context": {"fileName": ["USER.md"]}})
    assert [f.path for f in load.files] == [home / ".gemini/USER.md", repo / "GEMINI.md", repo / "USER.md"]
    assert load.text.startswith("# Contextual Instructions (USER.md, GEMINI.md)\n")


def test_gemini_dedupes_by_file_identity_and_uses_gemini_cli_home(tmp_path: Path, home: Path, repo: Path) -> None:
    write(repo, {"GEMINI.md": "once"})
    os.link(repo / "GEMINI.md", repo / "ALIAS.md")
    write(tmp_path, {"gh/.gemini/GEMINI.md": "from GEMINI_CLI_HOME"})
    load = simulate("gemini", repo, home=home, env={"GEMINI_CLI_HOME": str(tmp_path / "gh")},
                    settings={"context": {"fileName": "ALIAS.md"}})
    assert [f.path for f in load.files] == [tmp_path / "gh/.gemini/GEMINI.md", repo / "ALIAS.md"]
    assert load.not_loaded == (NotLoaded(repo / "GEMINI.md", "project", f"same file as {repo / 'ALIAS.md'}"),)


def test_gemini_without_marker_reads_only_the_cwd(tmp_path: Path, home: Path) -> None:
    write(tmp_path, {"w/GEMINI.md": "parent", "w/x/GEMINI.md": "cwd"})
    assert gemini(tmp_path / "w/x", home).text == ("<loaded_context>\n<project_context>\n"
                                                   + gblock(tmp_path / "w/x/GEMINI.md", "cwd")
                                                   + "\n</project_context>\n</loaded_context>")


def test_gemini_imports(tmp_path: Path, home: Path, repo: Path) -> None:
    write(tmp_path, {"outside.md": "secret"})
    write(repo, {"GEMINI.md": "Top @./a.md\n`@a.md` and\n```\n@a.md\n```\n@../outside.md @missing.md @~/x.md "
                              "e@a.md @param\n",
                 "a.md": "A\n@b.md", "b.md": "B @a.md", "param": ""})
    load = gemini(repo, home)
    a = "A\n<!-- Imported from: b.md -->\nB <!-- File already processed: a.md -->\n<!-- End of import from: b.md -->"
    top = ("Top <!-- Imported from: ./a.md -->\n" + a + "\n<!-- End of import from: ./a.md -->\n`@a.md` and\n```\n"
           "@a.md\n```\n<!-- Import failed: ../outside.md - Path traversal attempt -->"
           f" <!-- Import failed: missing.md - ENOENT: no such file or directory, access '{repo / 'missing.md'}' -->"
           " @~/x.md e@a.md <!-- Imported from: param -->\n\n<!-- End of import from: param -->")
    assert load.text == "<loaded_context>\n<project_context>\n" + gblock(repo / "GEMINI.md", top) + \
        "\n</project_context>\n</loaded_context>"
    assert [(f.path.name, f.depth, f.scope) for f in load.files] == [("GEMINI.md", 0, "project"), ("a.md", 1, "import"),
                                                                     ("b.md", 2, "import"), ("param", 1, "import")]
    assert load.files[1].text == a and load.files[1].imported_by == repo / "GEMINI.md"
    assert load.warnings == (
        f"{repo / 'b.md'}: @a.md is already being imported further up this chain (a cycle)",
        f"{repo / 'GEMINI.md'}: @../outside.md is refused, it leaves the project root {repo}",
        f"{repo / 'GEMINI.md'}: @missing.md failed: ENOENT: no such file or directory, access '{repo / 'missing.md'}'")


def test_gemini_import_cycle_repeats_the_root_once(repo: Path, home: Path) -> None:
    write(repo, {"GEMINI.md": "@a.md", "a.md": "a @b.md", "b.md": "b @a.md @GEMINI.md"})
    text = gemini(repo, home).files[0].text
    assert text.count("<!-- Imported from: GEMINI.md -->") == 1  # the root is not in the chain at the start
    assert text.count("<!-- File already processed: a.md -->") == 2


def test_gemini_import_depth_limit(repo: Path, home: Path) -> None:
    write(repo, {"GEMINI.md": "@f1.md"} | {f"f{i}.md": f"{i} @f{i + 1}.md `@f0.md`" for i in range(1, 7)})
    load = gemini(repo, home)
    assert [f.path.name for f in load.files] == ["GEMINI.md", "f1.md", "f2.md", "f3.md", "f4.md", "f5.md"]
    assert load.files[-1].text == "5 @f6.md `@f0.md`"  # depth 5 is read but not processed
    assert load.warnings == (f"{repo / 'f5.md'}: its @imports are left as text; Gemini CLI stops at import depth 5",)


def test_gemini_directory_import_and_code_regex() -> None:
    assert [i.raw for i in gc.find_imports("@a x@b \t@c\n@/d @9 @")] == ["a", "c", "/d"]


# ---------------------------------------------------------------- dispatch


def test_unknown_agent_and_json_output(repo: Path, home: Path) -> None:
    with pytest.raises(ValueError, match="unknown agent 'cursor'"):
        simulate("cursor", repo)
    write(repo, {"AGENTS.md": "a", "CLAUDE.md": "c", "GEMINI.md": "g"})
    for agent in AGENTS:
        load = simulate(agent, repo, home=home, env={}, settings={"managed_path": str(home / "none")})
        data = json.loads(json.dumps(load.to_dict()))
        assert data["agent"] == agent and data["cwd"] == str(repo)
        assert data["files"][0]["path"] == str(load.files[0].path)
