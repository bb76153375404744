import pytest

from sidecar.config import load_config, parse_ollama_host


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
    assert config.ollama_url == "http://h:1"


def test_defaults_match_the_contract() -> None:
    config = load_config([], env={})
    assert config.ollama_url == "http://127.0.0.1:11434"
    assert (config.max_chats, config.max_line_bytes) == (4, 8 * 1024 * 1024)
    assert (config.drain_timeout_s, config.idle_timeout_s) == (60.0, 300.0)
    assert config.model is None and config.parent_pid is None


def test_bad_flags_exit_with_usage_error() -> None:
    with pytest.raises(SystemExit) as exc:
        load_config(["--max-chats", "0"], env={})
    assert exc.value.code == 2
