"""Starting the bundled LLM server: the router's presets, reuse of a running server, and clear errors."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from ops import llama_build, llm_server
from ops.models import ModelSetupError, llm_path
from settings import Settings


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers: something that is not an LLM server."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_preset_loads_every_model_at_start_from_its_verified_file(tmp_path):
    settings = Settings(models_dir=tmp_path, llm_threads=1)
    for alias in ("qwen2.5-0.5b", "qwen2.5-1.5b"):
        llm_path(settings, alias).write_bytes(b"gguf")
    ini = llm_server.preset(settings, ["qwen2.5-0.5b", "qwen2.5-1.5b"])
    sections = ini.split("\n\n")
    assert "t = 1" in sections[1] and f"c = {llm_server.CONTEXT_TOKENS}" in sections[1]
    for alias in ("qwen2.5-0.5b", "qwen2.5-1.5b"):
        section = next(s for s in sections if s.startswith(f"[{alias}]"))
        assert f"model = {llm_path(settings, alias).resolve()}" in section
        assert "load-on-startup = true" in section


def test_a_missing_model_or_binary_says_to_run_setup(tmp_path):
    settings = Settings(models_dir=tmp_path / "models", data_dir=tmp_path / "data",
                        openai_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(llm_server.LLMServerError, match="not installed .* Run `make setup`"):
        llm_server.preset(settings, ["qwen2.5-0.5b"])
    with pytest.raises(llm_server.LLMServerError, match="llama-server is not built .* Run `make setup`"):
        llm_server.start(settings, ["qwen2.5-0.5b"], wait_s=1)


def test_a_port_taken_by_something_else_is_a_clear_error(silent_port, tmp_path):
    settings = Settings(openai_base_url=f"http://127.0.0.1:{silent_port}/v1", data_dir=tmp_path / "data")
    with pytest.raises(llm_server.LLMServerError, match=f"port {silent_port} is taken by a process that does not "
                                                        "serve qwen2.5-0.5b"):
        llm_server.start(settings, ["qwen2.5-0.5b"], wait_s=1)


@pytest.mark.llm
def test_the_running_server_lists_both_models_loaded_and_is_reused(llm_base_url):
    """The real router (started by the session fixture or `make run`): both models resident, a second start reuses it."""
    assert {"qwen2.5-0.5b", "qwen2.5-1.5b"} <= llm_server.served_models(llm_base_url, loaded_only=True)
    settings = Settings(openai_base_url=llm_base_url)
    assert llm_server.start(settings, ["qwen2.5-0.5b", "qwen2.5-1.5b"], wait_s=5) == (None, llm_base_url)


def test_a_llama_cpp_source_whose_hash_differs_is_refused_and_nothing_is_built(tmp_path, monkeypatch):
    """The build downloads the pinned sdist with pip; a file that is not the pinned one never reaches cmake."""
    calls = []

    def fake_run(cmd, **kwargs):  # noqa: ANN001, ANN003, ANN202 - stands in for pip download, and for cmake if reached
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        (dest / llama_build.SDIST_FILE).write_bytes(b"not the pinned source")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(llama_build.subprocess, "run", fake_run)
    settings = Settings(models_dir=tmp_path / "models")
    with pytest.raises(ModelSetupError, match="sha256 [0-9a-f]{64} does not match the pinned"):
        llama_build.ensure_server(settings)
    assert len(calls) == 1 and "download" in calls[0]
    assert not llama_build.server_binary(settings).exists()
