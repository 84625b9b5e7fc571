"""helpers.network: the online check is bounded, whatever the network does (all on loopback)."""
import http.server
import socket
import threading
import time

import pytest

from helpers import network


@pytest.fixture()
def silent_server():
    """A TCP server on 127.0.0.1 that accepts connections and never says a word (a stuck proxy or
    portal); closed at the end of the test."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture()
def answering_server():
    """An HTTP server on 127.0.0.1 that answers every HEAD with ``status``."""
    class Handler(http.server.BaseHTTPRequestHandler):
        status = 200

        def do_HEAD(self):
            self.send_response(self.status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, Handler
    server.shutdown()
    server.server_close()


@pytest.fixture()
def clean_env(monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy",
                 "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", *network.HUB_TIMEOUTS):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    yield monkeypatch
    network._ONLINE = None


def test_a_server_that_never_answers_costs_the_timeout_not_minutes(silent_server, clean_env):
    clean_env.setenv("HF_ENDPOINT", f"https://127.0.0.1:{silent_server}")
    start = time.perf_counter()
    assert network.is_online(timeout=1.0, refresh=True) is False
    assert time.perf_counter() - start < 2.5
    import os
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_an_answer_means_online_and_limits_the_hubs_waits(answering_server, clean_env):
    server, _ = answering_server
    clean_env.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    assert network.is_online(timeout=2.0, refresh=True) is True
    import os
    assert all(os.environ[name] == str(s) for name, s in network.HUB_TIMEOUTS.items())


def test_an_error_status_is_still_an_answer(answering_server, clean_env):
    server, handler = answering_server
    handler.status = 503
    assert network.reachable(f"http://127.0.0.1:{server.server_address[1]}", timeout=2.0)


def test_a_closed_port_is_offline_at_once(clean_env):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()                                   # nothing listens there now
    start = time.perf_counter()
    assert not network.reachable(f"http://127.0.0.1:{port}", timeout=2.0)
    assert time.perf_counter() - start < 2.0


def test_the_setting_wins_without_asking(clean_env):
    clean_env.setenv("HF_HUB_OFFLINE", "True")
    clean_env.setattr(network, "reachable", lambda *a, **k: pytest.fail("asked the network"))
    assert network.is_online(refresh=True) is False
