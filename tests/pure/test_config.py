import pytest

from sidecar.config import load_config, parse_base_url, parse_ollama_host


@pytest.mark.parametrize(
    ("value", "url"),
    [
        (None, "http://127.0.0.1:11434"),
        ("", "http://127.0.0.1:11434"),
        ("1.2.3.4", "http://1.2.3.4:11434"),
        ("example.com", "http://example.com:11434"),
        ("example.com:56789", "http://example.com:56789"),
        (":56789", "http://127.0.0.1:56789"),
        ("http://example.com", "http://example.com:80"),
        ("https://example.com", "https://example.com:443"),
        ("https://example.com:8443/ollama/", "https://example.com:8443/ollama"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("0.0.0.0:1234", "http://127.0.0.1:1234"),
        ("[::]:11434", "http://[::1]:11434"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("::", "http://[::1]:11434"),
        ("fe80::1", "http://[fe80::1]:11434"),
        ("ollama.com", "https://ollama.com:443"),
        ("  localhost  ", "http://localhost:11434"),
    ],
)
def test_ollama_host_is_parsed_like_ollamas_own_clients(value: str | None, url: str) -> None:
    assert parse_ollama_host(value) == url


def test_ollama_url_flag_wins_over_ollama_host() -> None:
    config = load_config(["--ollama-url", "http://h:1"], env={"OLLAMA_HOST": "other:2"})
    assert config.base_url == "http://h:1"


def test_defaults_match_the_contract() -> None:
    config = load_config([], env={})
    assert config.base_url == "http://127.0.0.1:11434"
    assert (config.max_chats, config.max_line_bytes) == (4, 8 * 1024 * 1024)
    assert (config.drain_timeout_s, config.idle_timeout_s) == (60.0, 300.0)
    assert config.model is None and config.parent_pid is None


def test_bad_flags_exit_with_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        load_config(["--max-chats", "0"], env={})
    assert exc.value.code == 2


# --- providers ------------------------------------------------------------------------------

SECRET = "sk-do-not-print-9f8e7d"


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://127.0.0.1:8080/v1/", "http://127.0.0.1:8080/v1"),
        ("https://api.example.com/openai/v1", "https://api.example.com/openai/v1"),
        ("https://API.example.com", "https://api.example.com/v1"),
        ("http://0.0.0.0:1234", "http://127.0.0.1:1234/v1"),
        ("http://[::1]:8000/api", "http://[::1]:8000/api"),
        ("  http://h:1/x  ", "http://h:1/x"),
    ],
)
def test_a_base_url_without_a_path_gets_v1_and_any_other_path_is_kept(value: str, url: str) -> None:
    assert parse_base_url(value) == url


@pytest.mark.parametrize(
    "value", ["127.0.0.1:8080", "ftp://h/v1", "http://", "http://h:99999", "http://h/v1?x=1",
              f"http://user:{SECRET}@h/v1"],
)
def test_a_bad_base_url_is_a_usage_error_that_never_repeats_credentials(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        load_config(["--provider", "openai", "--base-url", value], env={})
    assert exc.value.code == 2
    assert SECRET not in capsys.readouterr().err


def test_openai_base_url_comes_from_the_flag_then_openai_base_url_then_ollamas_v1() -> None:
    env = {"OPENAI_BASE_URL": "http://env:1", "OLLAMA_HOST": "ollama:2"}
    assert load_config(["--provider", "openai", "--base-url", "http://flag:3"], env=env).base_url == (
        "http://flag:3/v1"
    )
    assert load_config(["--provider", "openai"], env=env).base_url == "http://env:1/v1"
    del env["OPENAI_BASE_URL"]
    assert load_config(["--provider", "openai"], env=env).base_url == "http://ollama:2/v1"
    assert load_config(["--provider", "openai"], env={}).base_url == "http://127.0.0.1:11434/v1"
    assert load_config(["--provider", "openai", "--ollama-url", "http://o:4"], env={}).base_url == (
        "http://o:4/v1"
    )
    # a flag beats a variable
    env["OPENAI_BASE_URL"] = "http://env:1"
    assert load_config(["--provider", "openai", "--ollama-url", "http://o:4"], env=env).base_url == (
        "http://o:4/v1"
    )


def test_for_ollama_base_url_is_ollama_url() -> None:
    config = load_config(["--base-url", "localhost:9"], env={"OLLAMA_HOST": "other:2"})
    assert (config.provider, config.base_url) == ("ollama", "http://localhost:9")
    with pytest.raises(SystemExit):
        load_config(["--base-url", "a:1", "--ollama-url", "b:2"], env={})


def test_the_key_comes_from_the_providers_variable_or_the_one_named() -> None:
    env = {"OLLAMA_API_KEY": "o-key", "OPENAI_API_KEY": "oa-key", "MY_KEY": "mine"}
    ollama = load_config([], env=env)
    assert (ollama.api_key, ollama.api_key_env) == ("o-key", "OLLAMA_API_KEY")
    openai = load_config(["--provider", "openai"], env=env)
    assert (openai.api_key, openai.api_key_env) == ("oa-key", "OPENAI_API_KEY")
    named = load_config(["--provider", "openai", "--api-key-env", "MY_KEY"], env=env)
    assert (named.api_key, named.api_key_env) == ("mine", "MY_KEY")
    unset = load_config(["--provider", "openai", "--api-key-env", "NOPE"], env=env)
    assert (unset.api_key, unset.api_key_env) == (None, "NOPE")


def test_the_key_is_not_in_the_repr_of_the_config() -> None:
    config = load_config(["--provider", "openai"], env={"OPENAI_API_KEY": SECRET})
    assert config.api_key == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert "OPENAI_API_KEY" in repr(config)


def test_the_key_is_stripped_of_surrounding_whitespace() -> None:
    # A .env file written on Windows leaves a "\r" at the end of the value.
    config = load_config(["--provider", "openai"], env={"OPENAI_API_KEY": f" {SECRET}\r\n"})
    assert config.api_key == SECRET
    assert load_config(["--provider", "openai"], env={"OPENAI_API_KEY": " \r\n"}).api_key is None


@pytest.mark.parametrize("key", [f"{SECRET}\r\nX-Injected: 1", f"sk {SECRET}", f"{SECRET}\u00e9", f"{SECRET}\0"])
def test_a_key_that_cannot_go_in_a_header_is_refused_without_showing_it(
    key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        load_config(["--provider", "openai", "--api-key-env", "MY_KEY"], env={"MY_KEY": key})
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "MY_KEY" in err and "cannot carry" in err and SECRET not in err
