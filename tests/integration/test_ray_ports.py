"""`--ray-address` at something that is not a Ray head: one line, in bounded time.

A port that accepts and says nothing, a web server, a refused port and a
host name that cannot be one each end `aekl sweep --executor ray` with one
line and exit 2 well within the 30 s the help promises, before any run
folder exists.
"""

from __future__ import annotations

import http.server
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from core.cli import app

pytest.importorskip("ray")
runner = CliRunner()
LIMIT_S = 30


@pytest.fixture
def silent_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # accepts (the kernel completes the handshake) and never answers
    yield server.getsockname()[1]
    server.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # the server runs in the test's process: keep stderr aekl's
        pass


@pytest.fixture
def http_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def sweep(tmp_path, address):
    began = time.monotonic()
    result = runner.invoke(app, ["sweep", "--executor", "ray", "--ray-address", address, "--latent", "2",
                                 "--epochs", "1", "--subset", "256", "--out", str(tmp_path)])
    return result, time.monotonic() - began


@pytest.mark.parametrize("kind, needle", [("silent", "did not answer as Ray"), ("http", "not a Ray head"),
                                          ("closed", "cannot be reached")])
def test_a_port_that_is_not_ray_is_one_line_in_bounded_time(tmp_path, request, kind, needle):
    port = request.getfixturevalue(f"{kind}_port")
    result, seconds = sweep(tmp_path, f"127.0.0.1:{port}")
    assert result.exit_code == 2, (result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aekl: error: --ray-address") and needle in lines[0], lines
    assert seconds < LIMIT_S
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("address", ["a" * 64 + ".example.org:6379", "host:http", "host:70000", ":6379"])
def test_a_malformed_address_is_refused_before_anything_starts(tmp_path, address):
    result, _ = sweep(tmp_path, address)
    assert result.exit_code == 2, (result.stderr, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--ray-address must be auto or host:port" in lines[0], lines


def test_the_help_states_the_bound_and_the_token_setting():
    result = runner.invoke(app, ["sweep", "--help"], terminal_width=200)
    text = " ".join(result.stdout.split())
    assert "30 s" in text and "RAY_AUTH_MODE=token" in text


class SettingsThenSilence:
    """A listener that greets like HTTP/2 (so it passes for a Ray head at
    first) and then says nothing; counts the connections made to it."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("", 0))  # every address: Ray swaps 127.0.0.1 for the machine's own address
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.accepted = threading.Semaphore(0)
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            conn.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))  # an empty SETTINGS frame
            self.conns.append(conn)
            self.accepted.release()

    def close(self) -> None:
        self.server.close()
        for conn in self.conns:
            conn.close()


@pytest.mark.slow  # a fresh process that imports Ray and joins
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_joining_ends_the_sweep_within_2_s(tmp_path, sig):
    fake = SettingsThenSilence()
    code = "import sys; from core.entry import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "sweep", "--executor", "ray", "--ray-address",
                             f"127.0.0.1:{fake.port}", "--latent", "2", "--epochs", "1", "--subset", "256",
                             "--out", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The probe is the first connection; the second is ray.init, now waiting on the silence.
        assert fake.accepted.acquire(timeout=120) and fake.accepted.acquire(timeout=60), proc.poll()
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
        fake.close()
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines()[-1] == "aekl: error: interrupted while connecting to Ray"
    assert took < 2.0
