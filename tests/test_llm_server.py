"""Starting the bundled LLM server: never a second one beside a busy server that cannot answer over HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ops import llm_server
from settings import Settings


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers (what a llama.cpp server looks like mid-generation)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _fake_llama_server(config: Path) -> subprocess.Popen:
    """A process whose command line is the bundled server's (it only sleeps)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "llama_cpp.server",
                             "--config_file", str(config)])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while b"llama_cpp.server" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.05)  # /proc shows an empty command line for a moment after the spawn
    return proc


def test_a_busy_llama_server_on_the_port_is_reused_not_an_error(silent_port, tmp_path):
    config = tmp_path / "server.json"
    config.write_text(json.dumps({"host": "127.0.0.1", "port": silent_port,
                                  "models": [{"model_alias": "qwen2.5-0.5b"}, {"model_alias": "qwen2.5-1.5b"}]}))
    settings = Settings(openai_base_url=f"http://127.0.0.1:{silent_port}/v1", data_dir=tmp_path / "data")
    proc = _fake_llama_server(config)
    try:
        assert llm_server.llama_server_on(silent_port) == proc.pid
        assert llm_server.llama_server_models(silent_port) == {"qwen2.5-0.5b", "qwen2.5-1.5b"}
        assert llm_server.start(settings, wait_s=1) == (None, f"http://127.0.0.1:{silent_port}/v1")
    finally:
        proc.kill()
        proc.wait()
    assert llm_server.llama_server_on(silent_port) is None


def test_a_port_taken_by_something_else_is_a_clear_error(silent_port, tmp_path):
    settings = Settings(openai_base_url=f"http://127.0.0.1:{silent_port}/v1", data_dir=tmp_path / "data")
    with pytest.raises(llm_server.LLMServerError, match=f"port {silent_port} is taken by a process that does not "
                                                        "answer as an OpenAI-compatible server"):
        llm_server.start(settings, wait_s=1)
