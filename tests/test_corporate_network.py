"""Corporate networks: the API over HTTPS with a private CA, through a loopback CONNECT proxy; the error words.

The simulator serves HTTPS with a throwaway trustme CA and is reached through tests/proxy_server.py. The CLI runs
in-process with an injected environment (the machine's own proxy and CA variables are removed by conftest).
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import ssl
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest
import requests
import trustme

from conftest import SIMULATOR_TOKEN, run_cli
from mist_infra_manager import config as config_module
from mist_infra_manager.alerting.email_delivery import SmtpSettings, SmtpTransport
from mist_infra_manager.cli.main import main
from mist_infra_manager.mist.mist_client import MistApiError, MistClient, masked_url, proxy_for, verify_for
from mist_infra_manager.simulator.mist_simulator import MistSimulator
from proxy_server import ProxyServer
from smtp_server import SmtpTestServer

PROXY_USER = "jumphost"
PROXY_PASSWORD = "Pr0xy-s3cret-77"


class NoSleep:
    """Stands in for time.sleep: records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: List[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def https_simulator(ca: trustme.CA) -> Iterator[MistSimulator]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    with MistSimulator(num_sites=3, token=SIMULATOR_TOKEN, ssl_context=context) as running:
        yield running


@pytest.fixture
def small_simulator() -> Iterator[MistSimulator]:
    with MistSimulator(num_sites=3, token=SIMULATOR_TOKEN) as running:
        yield running


@pytest.fixture
def proxy() -> Iterator[ProxyServer]:
    with ProxyServer() as running:
        yield running


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """main() configures the root logger; put it back so that later tests log as before."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if handler not in handlers:
            handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def run_main(config_path: Path, environ: Mapping[str, str], *extra: str) -> int:
    return main(["--mode", "monitor", "--config", str(config_path), *extra], dict(environ))


def host_port(simulator: MistSimulator) -> str:
    return simulator.base_url.split("://", 1)[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client_for(base_url: str, **options: Any) -> MistClient:
    options.setdefault("sleep", NoSleep())
    options.setdefault("environ", {})
    options.setdefault("max_retry_wait_seconds", 0)
    return MistClient(base_url, SIMULATOR_TOKEN, **options)


def failure_of(client: MistClient) -> str:
    with pytest.raises(MistApiError) as caught:
        client.get_self()
    return str(caught.value)


# --- Runs through the proxy -----------------------------------------------------------------------------------


def test_a_run_succeeds_through_https_proxy_with_requests_ca_bundle(
    https_simulator, proxy, ca_file, make_config, capsys
) -> None:
    config_path = make_config(https_simulator.base_url)
    code = run_main(config_path, {"HTTPS_PROXY": proxy.url, "REQUESTS_CA_BUNDLE": str(ca_file)})
    assert code == 0, capsys.readouterr().err
    assert f"CONNECT {host_port(https_simulator)} HTTP/1.0" in proxy.request_lines
    assert https_simulator.calls > 0


def test_a_command_line_run_reads_the_proxy_and_ca_from_its_process_environment(
    https_simulator, proxy, ca_file, make_config
) -> None:
    config_path = make_config(https_simulator.base_url)
    completed = run_cli(
        ["--mode", "insights", "--config", str(config_path)],
        env={"https_proxy": proxy.url, "REQUESTS_CA_BUNDLE": str(ca_file)},
    )
    assert completed.returncode == 0, completed.stderr
    assert f"CONNECT {host_port(https_simulator)} HTTP/1.0" in proxy.request_lines


def test_a_run_succeeds_with_mist_proxy_and_mist_ca_bundle_and_no_environment(
    https_simulator, proxy, ca_file, make_config, capsys
) -> None:
    config_path = make_config(https_simulator.base_url, {"mist": {"proxy": proxy.url, "ca_bundle": str(ca_file)}})
    code = run_main(config_path, {})
    assert code == 0, capsys.readouterr().err
    assert f"CONNECT {host_port(https_simulator)} HTTP/1.0" in proxy.request_lines


def test_ssl_cert_file_is_honoured_when_requests_ca_bundle_is_not_set(https_simulator, proxy, ca_file) -> None:
    client = client_for(https_simulator.base_url, environ={"https_proxy": proxy.url, "SSL_CERT_FILE": str(ca_file)})
    assert client.get_self()["privileges"]
    assert len(proxy.request_lines) == 1


def test_without_the_ca_the_run_exits_one_with_one_line_naming_mist_ca_bundle(
    https_simulator, proxy, make_config, capsys
) -> None:
    config_path = make_config(https_simulator.base_url)
    code = run_main(config_path, {"HTTPS_PROXY": proxy.url})
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1
    assert len(lines) == 1, err
    assert "mist.ca_bundle" in lines[0] and host_port(https_simulator) in lines[0]
    assert "Traceback" not in err and "ConnectionError" not in err
    # Not retried: a certificate does not become trusted by asking again.
    assert len(proxy.request_lines) == 1


def test_a_plain_http_base_url_goes_through_http_proxy(small_simulator, proxy, make_config, capsys) -> None:
    config_path = make_config(small_simulator.base_url)
    code = run_main(config_path, {"HTTP_PROXY": proxy.url, "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert code == 0, capsys.readouterr().err
    assert f"GET {small_simulator.base_url}/api/v1/self HTTP/1.1" in proxy.request_lines
    assert not any(line.startswith("CONNECT") for line in proxy.request_lines)


def test_no_proxy_covering_the_host_bypasses_the_proxy(https_simulator, proxy, ca_file, make_config, capsys) -> None:
    config_path = make_config(https_simulator.base_url)
    environ = {"HTTPS_PROXY": proxy.url, "NO_PROXY": "example.com,localhost", "REQUESTS_CA_BUNDLE": str(ca_file)}
    code = run_main(config_path, environ)
    assert code == 0, capsys.readouterr().err
    assert proxy.request_lines == []


def test_mist_proxy_ignores_no_proxy(https_simulator, proxy, ca_file) -> None:
    client = client_for(https_simulator.base_url, proxy=proxy.url, ca_bundle=str(ca_file), environ={"NO_PROXY": "*"})
    client.get_self()
    assert proxy.request_lines == [f"CONNECT {host_port(https_simulator)} HTTP/1.0"]


def test_proxy_credentials_in_the_url_are_sent_to_the_proxy(https_simulator, ca_file) -> None:
    with ProxyServer(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        address = proxy.url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
        client = client_for(https_simulator.base_url, proxy=address, ca_bundle=str(ca_file))
        assert client.get_self()["privileges"]


def test_the_token_is_never_sent_to_the_proxy_and_netrc_is_not_read(
    small_simulator, proxy, tmp_path, monkeypatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    client = client_for(small_simulator.base_url, environ={"HTTP_PROXY": proxy.url})
    # The simulator answers 401 to any other Authorization than the token.
    assert client.get_self()["privileges"]
    assert proxy.authorizations == [""]


# --- Error words ----------------------------------------------------------------------------------------------


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """no-such-host.invalid does not resolve, without asking a real resolver."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_each_network_failure_has_its_own_words(no_dns, silent_server, https_simulator) -> None:
    with ProxyServer(refuse=403) as refusing:
        messages = {
            "dns": failure_of(client_for("https://no-such-host.invalid")),
            "refused": failure_of(client_for(f"http://127.0.0.1:{closed_port()}")),
            "timeout": failure_of(client_for(silent_server, timeout_seconds=0.2)),
            "tls": failure_of(client_for(https_simulator.base_url)),
            "proxy": failure_of(client_for(https_simulator.base_url, proxy=refusing.url)),
        }
    assert "cannot resolve no-such-host.invalid: DNS lookup failed" in messages["dns"]
    assert "mist.proxy / HTTPS_PROXY" in messages["dns"]
    assert "connection refused" in messages["refused"]
    assert "no complete answer within 0.2 s (deadline)" in messages["timeout"]
    assert f"TLS certificate of {host_port(https_simulator)}" in messages["tls"] and "not trusted" in messages["tls"]
    assert "mist.ca_bundle" in messages["tls"] and "REQUESTS_CA_BUNDLE" in messages["tls"]
    assert f"the proxy {refusing.url} refused the connection" in messages["proxy"] and "403" in messages["proxy"]
    assert "mist.proxy" in messages["proxy"]
    for message in messages.values():
        assert "ConnectionError" not in message and "\n" not in message
    # Five different explanations, not one generic text.
    assert len({message.split(":", 2)[1] for message in messages.values()}) == 5


def test_a_connect_timeout_is_told_apart_from_a_read_timeout() -> None:
    client = client_for("https://api.eu.mist.com")
    problem, retry = client._describe_failure(requests.exceptions.ConnectTimeout())
    assert problem.startswith("connecting to api.eu.mist.com timed out") and retry


def test_a_proxy_refusal_and_a_tls_failure_are_not_retried(https_simulator) -> None:
    sleep = NoSleep()
    with ProxyServer(refuse=403) as refusing:
        client = client_for(https_simulator.base_url, proxy=refusing.url, max_retry_wait_seconds=60, sleep=sleep)
        failure_of(client)
        assert client.calls == 1 and len(refusing.request_lines) == 1
    client = client_for(https_simulator.base_url, max_retry_wait_seconds=60, sleep=sleep)
    failure_of(client)
    assert client.calls == 1 and sleep.waits == []


def test_a_proxy_asking_for_credentials_is_named_with_the_password_masked(https_simulator) -> None:
    with ProxyServer(username=PROXY_USER, password="the-right-one") as proxy:
        address = proxy.url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
        message = failure_of(client_for(https_simulator.base_url, proxy=address))
    assert "407" in message and f"{PROXY_USER}:***@127.0.0.1:{proxy.port}" in message
    assert PROXY_PASSWORD not in message


def test_an_unreachable_proxy_names_the_proxy_and_its_variable(https_simulator) -> None:
    address = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{closed_port()}"
    message = failure_of(client_for(https_simulator.base_url, environ={"HTTPS_PROXY": address}))
    assert "the proxy http://jumphost:***@127.0.0.1" in message and "HTTPS_PROXY" in message
    assert PROXY_PASSWORD not in message


def test_a_ca_bundle_variable_naming_a_missing_file_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(MistApiError) as caught:
        client_for("https://api.eu.mist.com", environ={"REQUESTS_CA_BUNDLE": str(tmp_path / "nope.pem")})
    assert str(caught.value).startswith("REQUESTS_CA_BUNDLE: the CA bundle") and "does not exist" in str(caught.value)


# --- Verbose log ----------------------------------------------------------------------------------------------


def test_verbose_logs_each_request_without_the_token_or_the_proxy_password(
    https_simulator, ca_file, make_config, capsys
) -> None:
    with ProxyServer(username=PROXY_USER, password=PROXY_PASSWORD) as proxy:
        address = proxy.url.replace("http://", f"http://{PROXY_USER}:{PROXY_PASSWORD}@")
        config_path = make_config(https_simulator.base_url)
        code = run_main(config_path, {"HTTPS_PROXY": address, "REQUESTS_CA_BUNDLE": str(ca_file)}, "--verbose")
    captured = capsys.readouterr()
    assert code == 0, captured.err
    console = captured.out + captured.err
    log = (config_path.parent / "mist_infra_manager.log").read_text(encoding="utf-8")
    for text in (console, log):
        request_lines = [line for line in text.splitlines() if "GET /api/v1/" in line and " -> 200 in " in line]
        assert any("GET /api/v1/self -> 200 in " in line and line.rstrip().endswith(" ms") for line in request_lines)
        assert len([line for line in request_lines if "/api/v1/self" in line]) == 1
        assert SIMULATOR_TOKEN not in text and PROXY_PASSWORD not in text
        assert https_simulator.base_url not in text.replace("on https://localhost", "")
    assert "through the proxy http://jumphost:***@127.0.0.1" in console


# --- Pure helpers ---------------------------------------------------------------------------------------------


def test_proxy_selection_follows_curl_conventions() -> None:
    environ: Dict[str, str] = {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "proxy.corp:8080"}
    assert proxy_for("https://api.eu.mist.com", environ) == "http://proxy.corp:8080"
    assert proxy_for("http://127.0.0.1:8085", environ) is None
    assert proxy_for("http://127.0.0.1:8085", {"ALL_PROXY": "http://all:1"}) == "http://all:1"
    cases: List[Tuple[str, Optional[str]]] = [
        ("mist.com", None),
        (".mist.com", None),
        ("api.eu.mist.com:443", None),
        ("other.com", "http://p:1"),
        ("*", None),
    ]
    for no_proxy, expected in cases:
        assert proxy_for("https://api.eu.mist.com", {"HTTPS_PROXY": "http://p:1", "NO_PROXY": no_proxy}) == expected
    assert proxy_for("http://127.0.0.1:9", {"HTTP_PROXY": "http://p:1", "NO_PROXY": "127.0.0.0/8"}) is None
    assert proxy_for("https://api.eu.mist.com", {"NO_PROXY": "*"}, "http://mine:3128") == "http://mine:3128"


def test_ca_bundle_selection_order() -> None:
    environ = {"SSL_CERT_FILE": "/c", "CURL_CA_BUNDLE": "/b", "REQUESTS_CA_BUNDLE": "/a", "SSL_CERT_DIR": "/d"}
    assert verify_for(environ) == ("/a", "REQUESTS_CA_BUNDLE")
    assert verify_for({"SSL_CERT_FILE": "/c", "SSL_CERT_DIR": "/d"}) == ("/c", "SSL_CERT_FILE")
    assert verify_for(environ, "/mine.pem") == ("/mine.pem", "mist.ca_bundle")
    assert verify_for({}) == (True, "")


def test_masked_url_hides_only_the_password() -> None:
    assert masked_url("http://user:pa:ss@proxy:3128") == "http://user:***@proxy:3128"
    assert masked_url("http://proxy:3128") == "http://proxy:3128"


# --- Configuration --------------------------------------------------------------------------------------------


def validate(mist: Mapping[str, Any], email: Optional[Mapping[str, Any]] = None) -> config_module.Config:
    raw: Dict[str, Any] = {"mist": {"api_token": "t", **mist}, "notifications": {"enabled": False}}
    if email is not None:
        raw["notifications"]["email"] = dict(email)
    return config_module.validate(raw, "config.yaml", environ={})


def test_config_resolves_relative_ca_bundles_against_the_project() -> None:
    relative = "config/config.yaml.template"  # any file of the project will do
    config = validate({"ca_bundle": relative}, {"ca_bundle": relative})
    assert config.mist.ca_bundle == config_module.PROJECT_ROOT / relative
    assert config.notifications.email.ca_bundle == config_module.PROJECT_ROOT / relative


def test_config_rejects_a_missing_ca_bundle_and_a_bad_proxy_naming_the_keys(tmp_path) -> None:
    with pytest.raises(config_module.ConfigError) as caught:
        validate(
            {"ca_bundle": str(tmp_path / "missing.pem"), "proxy": f"ftp://{PROXY_USER}:{PROXY_PASSWORD}@proxy:21"},
            {"ca_bundle": str(tmp_path)},
        )
    errors = caught.value.errors
    assert any(error.startswith("config.yaml: mist.ca_bundle: no such file") for error in errors)
    assert any(
        error.startswith("config.yaml: notifications.email.ca_bundle: must be a CA bundle file") for error in errors
    )
    [proxy_error] = [error for error in errors if "mist.proxy" in error]
    assert f"{PROXY_USER}:***@proxy:21" in proxy_error and PROXY_PASSWORD not in proxy_error


def test_config_keeps_the_proxy_password_among_the_secrets() -> None:
    config = validate({"proxy": f"http://{PROXY_USER}:{PROXY_PASSWORD}@proxy:3128"})
    assert PROXY_PASSWORD in config.secrets()
    environment_config = config_module.validate(
        {"mist": {"api_token": "t"}, "notifications": {"enabled": False}},
        "config.yaml",
        environ={"https_proxy": "http://u:env-proxy-pass@proxy:3128", "PATH": "/bin"},
    )
    assert dict(environment_config.network_environment) == {"https_proxy": "http://u:env-proxy-pass@proxy:3128"}
    assert "env-proxy-pass" in environment_config.secrets()


# --- SMTP relay with a corporate CA ---------------------------------------------------------------------------


def test_smtp_starttls_verifies_against_notifications_email_ca_bundle(tmp_path) -> None:
    with SmtpTestServer(tls="starttls") as server:
        ca_path = tmp_path / "relay-ca.pem"
        server.ca.cert_pem.write_to_path(str(ca_path))
        settings = SmtpSettings(
            host=server.host, port=server.port, use_tls=True, timeout_seconds=5, ca_bundle=str(ca_path)
        )
        transport = SmtpTransport(settings)
        try:
            transport.send(b"Subject: hello\r\n\r\nbody\r\n", "a@example.test", ["b@example.test"])
        finally:
            transport.close()
        assert len(server.messages) == 1


def test_smtp_settings_read_ca_bundle_from_the_config_section(tmp_path) -> None:
    ca_path = tmp_path / "relay-ca.pem"
    ca_path.write_text("x", encoding="utf-8")
    section = validate({}, {"smtp_server": "relay", "ca_bundle": str(ca_path)}).notifications.email
    assert SmtpSettings.from_config(section).ca_bundle == str(ca_path)
    without = dataclasses.replace(section, ca_bundle=None)
    assert SmtpSettings.from_config(without).ca_bundle is None


def test_a_proxy_that_cannot_reach_the_host_is_retried(https_simulator) -> None:
    with ProxyServer(refuse=502) as failing:
        client = client_for(https_simulator.base_url, proxy=failing.url, max_retry_wait_seconds=60)
        message = failure_of(client)
    assert f"the proxy {failing.url} failed the connection to {host_port(https_simulator)} (502" in message
    assert client.calls == 5 and len(failing.request_lines) == 5
