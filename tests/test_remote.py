"""Counts from the providers' count-tokens APIs, against real HTTP servers on 127.0.0.1 that answer like them
(``remote_servers``): counts and frames, retries seen in the server's log, clear errors, nothing cached on a
failure, the key nowhere but in the request header, concurrency, the persistent cache, the policies, the
offline default with every socket blocked, and ``ctxbudget calibrate``."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctxbudget import Counter, TokenCounter
from ctxbudget.cache.sqlite_tier import SQLiteTier
from ctxbudget.cache.tiers import count_key
from ctxbudget.cli.cache_cmd import use_persistent_cache
from ctxbudget.cli.common import UsageError
from ctxbudget.cli.main import build_parser, main
from ctxbudget.counting import persistent, routes
from ctxbudget.errors import ConfigError, RemoteCountError
from ctxbudget.remote import backend as remote_backend
from ctxbudget.remote import policy
from ctxbudget.remote.backend import PROBE
from ctxbudget.remote.http import retry_after
from ctxbudget.remote.settings import RemoteSettings, Secret, settings_from_mapping
from remote_servers import ENV, FRAMES, KEYS, MODELS, FakeProvider, Reply, serving

ROOT = Path(__file__).resolve().parent.parent
FAST = RemoteSettings(backoff=0.01, max_backoff=0.05, timeout=5.0)
ALL_ENV = [var for pair in ENV.values() for var in pair] + ["GOOGLE_API_KEY", routes.POLICY_ENV]


@pytest.fixture(autouse=True)
def _clean_remote(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ALL_ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-ctxbudget-test")  # no user config file
    remote_backend._frames.clear()
    policy.configure(None)
    yield
    policy.configure(None)
    remote_backend._frames.clear()


def use(fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, spec: str = "api",
        settings: RemoteSettings = FAST) -> None:
    key_var, url_var = ENV[fake.provider]
    monkeypatch.setenv(key_var, fake.key)
    monkeypatch.setenv(url_var, fake.url)
    policy.configure(spec, settings=settings)


def words(text: str) -> int:
    return max(1, len(text.split()))


# --- counts, frames, provenance ----------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["anthropic", "gemini", "openai"])
def test_each_provider_gives_content_counts_with_the_frame_taken_off(
        provider: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving(provider) as fake:
        use(fake, monkeypatch)
        counter = Counter.for_model(MODELS[provider])
        texts = ["one two three", "four five", "six", "   \n", ""]
        assert counter.count("alpha beta gamma delta") == 4
        assert counter.count_batch(texts) == [3, 2, 1, 1, 1]
        assert counter.backend.count_framed("one two three") == 3 + FRAMES[provider]
        assert counter.provenance() == {"tokenizer_id": f"api:{provider}:{counter.backend.inner.model}",
                                        "tokenizer_type": "api", "exact": True, "kind": "exact (api)"}
        assert counter.count_detailed("seven eight").kind == "exact (api)"
        sent = fake.texts()
        assert sent.count(PROBE) == 1  # the frame is measured once
        assert "" not in sent and f"{PROBE}   \n" in sent  # empty: not sent; whitespace: after the probe
        assert len({entry.path for entry in fake.log}) == 1
    path = fake.log[0].path
    assert path == {"anthropic": "/v1/messages/count_tokens", "openai": "/v1/responses/input_tokens",
                    "gemini": "/v1beta/models/gemini-2.5-pro:countTokens"}[provider]


def test_claude_default_is_sent_as_a_real_model_id(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("anthropic") as fake:
        use(fake, monkeypatch)
        assert TokenCounter.count_tokens("a b c", "claude") == 3
    assert {entry.body["model"] for entry in fake.log} == {"claude-opus-4-7"}


@pytest.mark.asyncio
async def test_async_calls_on_the_callers_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("openai") as fake:
        use(fake, monkeypatch)
        backend = policy.api_backend("gpt-4o")
        assert await backend.acount_batch(["a b", "c d e"]) == [2, 3]
        assert await backend.acount_framed("a b") == 2 + FRAMES["openai"]
        assert await Counter.for_model("gpt-4o").acount_batch(["x y z w"]) == [4]
        assert await TokenCounter.async_count_tokens("p q", "gpt-4o") == 2


# --- retries --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "value", "wait"), [("retry-after-ms", "300", 0.3), ("retry-after", "1", 1.0)])
@pytest.mark.parametrize("status", [429, 529])
def test_retry_after_is_honoured(status: int, header: str, value: str, wait: float,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("anthropic", script=[Reply(200), Reply(status, {header: value})]) as fake:
        use(fake, monkeypatch)
        assert Counter.for_model("claude-sonnet-4-5").count("the text") == 2
        tries = fake.requests_for("the text")
    assert len(tries) == 2
    assert tries[1].at - tries[0].at >= wait * 0.95


@pytest.mark.parametrize("status", [500, 502, 503, 529, 408, 429])
def test_server_errors_are_retried_with_backoff(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("gemini", script=[Reply(200), Reply(status), Reply(status)]) as fake:
        use(fake, monkeypatch)
        assert Counter.for_model("gemini-2.5-pro").count("a b c") == 3
        assert len(fake.requests_for("a b c")) == 3


def test_a_timeout_is_retried_then_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = RemoteSettings(backoff=0.01, timeout=0.2, max_retries=2)
    with serving("anthropic", script=[Reply(200)] + [Reply(200, delay=1.0)] * 3) as fake:
        use(fake, monkeypatch, settings=settings)
        store = persistent.configure(f"sqlite:{tmp_path / 'c.sqlite3'}")
        with pytest.raises(RemoteCountError) as caught:
            Counter.for_model("claude-sonnet-4-5").count("slow text")
        assert len(fake.requests_for("slow text")) == 3
    assert str(caught.value) == "anthropic count-tokens API: no answer within 0.2 s (after 3 tries)"
    assert store is not None and not _cached(store, "api:anthropic:claude-sonnet-4-5-20250929", "slow text")


@pytest.mark.parametrize(("status", "expected"), [
    (400, "HTTP 400: invalid_request_error: bad"), (401, "HTTP 401: authentication_error: bad"),
    (403, "HTTP 403: permission_error: bad"), (404, "HTTP 404: not_found_error: bad"),
    (413, "HTTP 413: api_error: bad")])
def test_client_errors_are_final(status: int, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("anthropic", script=[Reply(200), Reply(status, message="bad")]) as fake:
        use(fake, monkeypatch)
        with pytest.raises(RemoteCountError) as caught:
            Counter.for_model("claude-sonnet-4-5").count("a b")
        assert len(fake.requests_for("a b")) == 1
    assert str(caught.value) == f"anthropic count-tokens API: {expected}"
    assert caught.value.status == status and caught.value.provider == "anthropic"


def test_retries_end_after_the_last_try_naming_the_providers_message(monkeypatch: pytest.MonkeyPatch) -> None:
    script = [Reply(200)] + [Reply(503, message="The model is overloaded. Please try again later.")] * 4
    with serving("gemini", script=script) as fake:
        use(fake, monkeypatch)
        with pytest.raises(RemoteCountError, match=r"gemini count-tokens API: HTTP 503: UNAVAILABLE: The model is "
                           r"overloaded\. Please try again later\. \(after 4 tries\)"):
            Counter.for_model("gemini-2.5-pro").count("a b")
        assert len(fake.requests_for("a b")) == 4


def test_a_retry_after_beyond_the_limit_ends_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("openai", script=[Reply(200), Reply(429, {"retry-after": "3600"}, "Rate limit reached")]) as fake:
        use(fake, monkeypatch)
        with pytest.raises(RemoteCountError, match="Rate limit reached; asked to retry after 3600 s"):
            Counter.for_model("gpt-4o").count("a b")
        assert len(fake.requests_for("a b")) == 1


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert retry_after({"retry-after": "2.5"}) == 2.5
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, now=1445412500.0) == 10.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


@pytest.mark.parametrize("raw", [b"<html>502 Bad Gateway</html>", b'{"input_tokens": "many"}', b"[]"])
def test_a_malformed_answer_is_a_clear_error_and_not_retried(raw: bytes, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    with serving("anthropic", script=[Reply(200), Reply(200, raw=raw)]) as fake:
        use(fake, monkeypatch)
        store = persistent.configure(f"sqlite:{tmp_path / 'c.sqlite3'}")
        with pytest.raises(RemoteCountError, match=r"anthropic count-tokens API: HTTP 200: malformed answer"):
            Counter.for_model("claude-sonnet-4-5").count("a b")
        assert len(fake.requests_for("a b")) == 1
    assert store is not None and not _cached(store, "api:anthropic:claude-sonnet-4-5-20250929", "a b")


def _cached(store: object, tokenizer_id: str, text: str) -> bool:
    keys = [count_key(f"{tokenizer_id}|tok", text), count_key(f"{tokenizer_id}|framed", text)]
    return bool(store.get_many(keys))  # type: ignore[attr-defined]


def test_a_missing_key_is_a_clear_error_without_a_request(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("anthropic") as fake:
        monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", fake.url)
        policy.configure("api", settings=FAST)
        with pytest.raises(RemoteCountError, match="anthropic count-tokens API: no API key: set ANTHROPIC_API_KEY"):
            Counter.for_model("claude-sonnet-4-5").count("a b")
        assert fake.log == []


def test_a_key_that_is_not_printable_ascii_is_a_clear_error_naming_none_of_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Review finding: httpx's own error named the key's first non-ASCII character and its position."""
    with serving("anthropic") as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-abcdé-secret")
        monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", fake.url)
        policy.configure("api", settings=FAST)
        with pytest.raises(RemoteCountError, match="the API key is not printable ASCII") as caught:
            Counter.for_model("claude-sonnet-4-5").count("a b")
        assert "é" not in str(caught.value) and "secret" not in str(caught.value)
        assert fake.log == []


@pytest.mark.parametrize("spec", ["api", "api-else-offline"])
def test_without_httpx_api_is_one_error_and_api_else_offline_counts_offline(
        spec: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review finding: without the [api] extra both policies ended in a ModuleNotFoundError traceback."""
    path = tmp_path / "AGENTS.md"
    path.write_text("one two three four\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "httpx", None)  # what an install without the extra has
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["anthropic"])
    monkeypatch.setenv(routes.POLICY_ENV, spec)
    code = main(["count", "--no-cache", "--json", "-m", "claude-sonnet-4-5", str(path)])
    out, err = capsys.readouterr()
    if spec == "api":
        assert code == 2 and err.strip().endswith("the count-tokens API needs httpx: pip install 'ctxbudget[api]'")
    else:
        assert code == 0 and json.loads(out)["models"][0]["kind"] == "reconstructed (api failed)"


# --- the key --------------------------------------------------------------------------------------------

def test_the_key_is_in_no_log_error_repr_or_cache_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    key = KEYS["anthropic"]
    echo = Reply(403, message=f"key {key} is not allowed here")  # a proxy that echoes what it got
    script = [Reply(200), Reply(429, {"retry-after-ms": "10"}), Reply(200), echo]
    errors: list[RemoteCountError] = []
    with caplog.at_level(logging.DEBUG), serving("anthropic", script=script) as fake:
        use(fake, monkeypatch, settings=RemoteSettings(backoff=0.01, keys={"anthropic": Secret(key)}))
        store = persistent.configure(f"sqlite:{tmp_path / 'counts.sqlite3'}")
        counter = Counter.for_model("claude-sonnet-4-5")
        assert counter.count("a b") == 2  # after a 429
        with pytest.raises(RemoteCountError) as caught:
            counter.count_batch(["f g"])
        errors.append(caught.value)
        monkeypatch.setenv(routes.POLICY_ENV, "claude=api-else-offline")
        policy.configure(None)
        fallback = Counter.for_model("claude-sonnet-4-5")
        fake.script.append(Reply(401, message=f"bad {key}"))
        fallback.count("h i j")
        objects = [counter, counter.backend, counter.backend.inner, counter.route.backend, fallback,
                   fallback.backend, policy.current_settings(), policy.current_policy(), store,
                   RemoteSettings(keys={"anthropic": Secret(key)})]
    assert key in {entry.headers["x-api-key"] for entry in fake.log}  # it was sent, in the header only
    assert all(key not in json.dumps(entry.body) and key not in entry.path for entry in fake.log)
    assert key not in caplog.text and "***" in str(errors[0])
    assert all(key not in str(e) and key not in repr(e) for e in errors)
    assert all(key not in repr(o) and key not in str(o) for o in objects)
    assert store is not None
    store.close()  # type: ignore[union-attr]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert raw and key.encode() not in raw and b"SECRET" not in raw
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(Secret(key))


# --- concurrency and the persistent cache ---------------------------------------------------------------

@pytest.fixture
def server_process() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A fake Anthropic in its own process (its own GIL: the client's timing is the client's), 50 ms per
    answer."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "remote_servers.py"), "anthropic", "0.05"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    url = proc.stdout.readline().strip()
    yield url, proc
    proc.stdin.close()
    proc.wait(10)


def _server_log(url: str) -> list[str]:
    import httpx

    return list(httpx.get(f"{url}/log").json())


def test_batches_run_concurrently_and_a_second_run_sends_nothing(
        server_process: tuple[str, subprocess.Popen[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url, _proc = server_process
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEYS["anthropic"])
    monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", url)
    texts = [f"distinct text number {i}" for i in range(1000)]
    sequential = policy.api_backend("claude-sonnet-4-5", RemoteSettings(), concurrency=1)
    sequential.frame()
    start = time.perf_counter()
    assert sequential.count_batch(texts[:100]) == [4] * 100
    per_text = (time.perf_counter() - start) / 100
    cache = tmp_path / "counts.sqlite3"
    persistent.configure(f"sqlite:{cache}")
    policy.configure("api", settings=RemoteSettings(concurrency=16))
    counter = Counter.for_model("claude-sonnet-4-5", None)
    others = [f"other text {i}" for i in range(1000)]
    start = time.perf_counter()
    assert counter.count_batch(others) == [3] * 1000
    concurrent = time.perf_counter() - start
    ratio = per_text * 1000 / concurrent
    print(f"sequential {per_text * 1000:.1f} s (measured on 100 texts), concurrent {concurrent:.2f} s: x{ratio:.1f}")
    assert concurrent <= per_text * 1000 / 10
    sent = len(_server_log(url))
    persistent.configure(None)
    # a second run: a new process, the same cache file, the policy from the environment
    script = ("import json, sys; from ctxbudget import Counter; texts = json.load(sys.stdin); "
              "print(json.dumps(Counter.for_model('claude-sonnet-4-5').count_batch(texts)))")
    env = {"ANTHROPIC_API_KEY": KEYS["anthropic"], "CTXBUDGET_ANTHROPIC_BASE_URL": url,
           "CTXBUDGET_CACHE": f"sqlite:{cache}", routes.POLICY_ENV: "claude=api", "PATH": "/usr/bin:/bin",
           "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(others), capture_output=True, text=True,
                          env=env, check=True, timeout=120)
    assert json.loads(done.stdout) == [3] * 1000
    assert len(_server_log(url)) == sent


# --- policies -------------------------------------------------------------------------------------------

def test_policy_specs() -> None:
    parsed = policy.parse_policy("claude=api,gemini=api-else-offline")
    assert str(parsed) == "offline,anthropic=api,google=api-else-offline"
    spec = policy.parse_policy("api,claude-sonnet-4-5=offline,gpt-4*=api-else-offline")
    from ctxbudget import resolve_model

    assert spec.for_model("claude-sonnet-4-5-20250929", resolve_model("claude-sonnet-4-5")) == "offline"
    assert spec.for_model("claude-sonnet-4-5", resolve_model("claude-sonnet-4-5")) == "offline"
    assert spec.for_model("claude-opus-4-6", resolve_model("claude-opus-4-6")) == "api"
    assert spec.for_model("gpt-4o", resolve_model("gpt-4o")) == "api-else-offline"
    assert policy.parse_policy({"*": "api", "codex": "offline"}).for_model("codex", resolve_model("codex")) == "offline"
    for bad, message in [("claude=online", "unknown count policy 'online'"), ("", "empty count policy"),
                         ("clade=api", "Unknown model or tool: 'clade'")]:
        with pytest.raises(ConfigError, match=message):
            policy.parse_policy(bad, where="test")


def test_the_environment_sets_a_policy_per_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with serving("anthropic") as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.key)
        monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv(routes.POLICY_ENV, "claude=api")
        policy.configure(None, settings=FAST)
        assert Counter.for_model("claude-sonnet-4-5").provenance()["kind"] == "exact (api)"
        assert Counter.for_model("codex").provenance()["kind"] == "exact"
        assert Counter.for_model("gemini").provenance()["kind"] == "estimate"
        monkeypatch.setenv(routes.POLICY_ENV, "claude=sometimes")
        policy.configure(None)
        assert Counter.for_model("claude-sonnet-4-5").provenance()["kind"] == "reconstructed"


def test_the_config_file_sets_policy_and_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with serving("openai") as fake:
        (tmp_path / "ctxbudget.yaml").write_text(
            f"count_policy:\n  openai: api\ncount_api:\n  concurrency: 4\n  openai:\n    base_url: {fake.url}\n"
            f"    api_key: {fake.key}\n", encoding="utf-8")
        monkeypatch.chdir(tmp_path)
        policy.configure(None)
        counter = Counter.for_model("gpt-4o")
        assert counter.count("a b c") == 3
        assert counter.backend.inner.concurrency == 4
        assert len(fake.log) == 2
    with pytest.raises(ConfigError, match="unknown setting 'concurency'"):
        settings_from_mapping({"concurency": 3})


def test_api_else_offline_warns_once_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    offline = Counter.for_model("claude-sonnet-4-5", None)
    expected = offline.count_batch(["alpha beta", "gamma delta epsilon"])
    with serving("anthropic", script=[Reply(200)] + [Reply(500)] * 20) as fake:
        use(fake, monkeypatch, "claude=api-else-offline", RemoteSettings(backoff=0.01, max_retries=1))
        store = persistent.configure(f"sqlite:{tmp_path / 'c.sqlite3'}")
        counter = Counter.for_model("claude-sonnet-4-5")
        assert counter.provenance()["kind"] == "exact (api)"
        with caplog.at_level(logging.WARNING):
            assert counter.count("alpha beta") == expected[0]
            assert counter.count_batch(["alpha beta", "gamma delta epsilon"]) == expected
            assert Counter.for_model("claude-sonnet-4-5").count("gamma delta epsilon") == expected[1]
        sent = len(fake.log)
        assert sent == 3  # the probe, then two tries of the first text; from then on offline
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 500" in warnings[0].getMessage() and "counting claude-sonnet-4-5-20250929 offline" in \
        warnings[0].getMessage()
    provenance = counter.provenance()
    assert provenance["kind"] == "reconstructed (api failed)"
    assert provenance["tokenizer_id"] == offline.backend.tokenizer_id
    assert counter.count_detailed("alpha beta").kind == "reconstructed (api failed)"
    assert store is not None and not _cached(store, "api:anthropic:claude-sonnet-4-5-20250929", "alpha beta")


def test_api_else_offline_without_a_key_counts_offline_without_a_request(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    with serving("gemini") as fake, caplog.at_level(logging.WARNING):
        monkeypatch.setenv("CTXBUDGET_GEMINI_BASE_URL", fake.url)
        policy.configure("gemini=api-else-offline", settings=FAST)
        counter = Counter.for_model("gemini")
        assert counter.count("a b c") == Counter.for_model("gemini-2.5-flash", None).count("a b c")
        assert counter.provenance()["kind"] == "estimate (api failed)"
        assert fake.log == []
    assert "no API key: set GEMINI_API_KEY or GOOGLE_API_KEY" in caplog.text


# --- offline by default ---------------------------------------------------------------------------------

def test_the_default_policy_never_touches_the_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    for provider, (key_var, url_var) in ENV.items():
        monkeypatch.setenv(key_var, KEYS[provider])  # keys alone turn nothing on
        monkeypatch.setenv(url_var, "http://127.0.0.1:9")
    expected = {m: Counter.for_model(m, None).count_batch(["one two three", "four"]) for m in ("claude", "gemini")}

    def refuse(self: socket.socket, address: object) -> None:
        raise OSError(f"blocked: {address!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    policy.configure(None)
    for model in ("claude", "gemini", "codex", "claude-sonnet-4-5"):
        counter = Counter.for_model(model)
        assert counter.provenance()["kind"] in ("reconstructed", "estimate", "exact")
        counter.count("one two three")
        counter.count_batch(["one two three", "four"])
    assert {m: Counter.for_model(m).count_batch(["one two three", "four"]) for m in expected} == expected
    assert TokenCounter.count_tokens("one two three", "claude") == expected["claude"][0]
    path = tmp_path / "CLAUDE.md"
    path.write_text("one two three\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["count", "--json", "--no-cache", "-m", "claude", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["kind"] for m in data["models"]] == ["reconstructed"]


def test_offline_counting_imports_neither_the_remote_package_nor_httpx() -> None:
    script = ("import sys; from ctxbudget import Counter, TokenCounter; Counter.for_model('claude').count('a b'); "
              "TokenCounter.count_tokens('a b', 'gemini'); from ctxbudget.cli.main import main; "
              "main(['count', '--no-cache', '-m', 'codex', 'pyproject.toml']); "
              "print(sorted(m for m in sys.modules if m.startswith(('ctxbudget.remote', 'httpx'))))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True,
                          env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": "/nonexistent", "HOME": "/nonexistent"})
    assert done.stdout.strip().splitlines()[-1] == "[]"


# --- the CLI --------------------------------------------------------------------------------------------

def test_exact_on_the_cli_counts_with_the_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "AGENTS.md"
    path.write_text("one two three four\n", encoding="utf-8")
    with serving("anthropic") as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.key)
        monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("CTXBUDGET_CACHE", f"sqlite:{tmp_path / 'c.sqlite3'}")
        capsys.readouterr()
        assert main(["count", "--exact", "--json", "-m", "claude-sonnet-4-5", str(path)]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["models"][0]["kind"] == "exact (api)"
        assert data["total"] == {"claude-sonnet-4-5": 4}
        sent = len(fake.log)
        assert main(["count", "--exact", "--json", "-m", "claude-sonnet-4-5", str(path)]) == 0
        assert len(fake.log) == sent  # the second run: from the cache file
        assert main(["count", "--json", "-m", "claude-sonnet-4-5", str(path)]) == 0  # without --exact: offline
        assert json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")["models"][0]["kind"] == "reconstructed"


def test_the_variables_policy_uses_the_settings_of_the_config_named_with_dash_dash_config(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Review finding: with CTXBUDGET_COUNT_POLICY set, --config's count_api: (key, base URL) was ignored."""
    path = tmp_path / "CLAUDE.md"
    path.write_text("one two three\n", encoding="utf-8")
    with serving("anthropic") as fake:
        config = tmp_path / "team.yaml"
        config.write_text(f"count_api:\n  anthropic:\n    api_key: {fake.key}\n    base_url: {fake.url}\n",
                          encoding="utf-8")
        monkeypatch.setenv(routes.POLICY_ENV, "claude=api")
        capsys.readouterr()
        code = main(["check", str(path), "--tool", "claude-sonnet-4-5", "--config", str(config), "--json",
                     "--no-cache"])
        data = json.loads(capsys.readouterr().out)
        assert code == 0 and data["tools"][0]["provenance"]["kind"] == "exact (api)"
        assert data["tools"][0]["tokens"] == 3 and fake.log


def test_a_wrong_count_policy_in_the_config_is_a_usage_error(tmp_path: Path) -> None:
    config = tmp_path / "ctxbudget.yaml"
    config.write_text("count_policy: claude=always\n", encoding="utf-8")
    args = build_parser(("count",)).parse_args(["count", "--no-cache", "x"])
    args.config = str(config)
    with pytest.raises(UsageError, match=r"count_policy: unknown count policy 'always'"):
        use_persistent_cache(args)


def _calibrate(argv: list[str]) -> int:
    args = build_parser(("calibrate",)).parse_args(["calibrate", *argv])
    return int(args.run(args))


def test_calibrate_reports_offline_against_api(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "CLAUDE.md").write_text("Use   tabs. Never commit secrets!\n", encoding="utf-8")
    (tmp_path / "AGENTS.md").write_text("alpha beta gamma\n", encoding="utf-8")
    files = [str(tmp_path / "CLAUDE.md"), str(tmp_path / "AGENTS.md")]
    offline = Counter.for_model("claude-sonnet-4-5", None).count_batch(
        [Path(f).read_text(encoding="utf-8") for f in files])
    with serving("anthropic") as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", fake.key)
        monkeypatch.setenv("CTXBUDGET_ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("CTXBUDGET_CACHE", f"sqlite:{tmp_path / 'c.sqlite3'}")
        capsys.readouterr()
        assert _calibrate(["--model", "claude-sonnet-4-5", "--json", *files]) == 0
        data = json.loads(capsys.readouterr().out)
        assert [(f["offline"], f["api"]) for f in data["files"]] == list(zip(offline, [5, 3], strict=True))
        assert data["files"][1]["difference"] == offline[1] - 3
        assert data["files"][1]["percent"] == round(100 * (offline[1] - 3) / 3, 2)
        assert data["total"]["api"] == 8 and data["frame_tokens"] == FRAMES["anthropic"]
        assert data["api"]["kind"] == "exact (api)" and data["offline"]["kind"] == "reconstructed"
        sent = len(fake.log)
        assert _calibrate(["--model", "claude-sonnet-4-5", *files]) == 0
        assert len(fake.log) == sent
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["file", "offline", "api", "difference", "%"]
    assert lines[-2].split()[:3] == ["total", str(sum(offline)), "8"]
    assert "a frame of 7 tokens taken off" in lines[-1]


def test_calibrate_without_a_key_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").write_text("x\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"^calibrate: anthropic: no API key: set ANTHROPIC_API_KEY"):
        _calibrate(["--no-cache", "--model", "claude-sonnet-4-5", str(tmp_path / "CLAUDE.md")])
    help_text = build_parser(("calibrate",)).format_help()
    assert "calibrate" in help_text
    from ctxbudget.cli import calibrate_cmd

    assert (calibrate_cmd.__doc__ or "").rstrip().splitlines()[-1] == \
        "example: ctxbudget calibrate --model claude-sonnet-4-5 CLAUDE.md"


def test_sqlite_file_of_api_counts_holds_no_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with serving("openai") as fake:
        use(fake, monkeypatch)
        persistent.configure(SQLiteTier(path))
        assert Counter.for_model("gpt-4o", None).count("a particular sentence") == 3
    persistent.configure(None)
    with sqlite3.connect(path) as db:
        keys = [row[0] for row in db.execute("SELECT key FROM counts")]
    assert sorted(k.rsplit(":", 1)[0] for k in keys) == ["api:openai:gpt-4o|framed", "api:openai:gpt-4o|tok"]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"particular" not in raw
