"""Start, stop and probe the bundled LLM server: llama.cpp's `llama-server` in router mode.

One endpoint, routed by model name, one resident process per model (each loaded at start, as many allowed as there
are models, so none is ever unloaded for another):
nothing is swapped, so each model keeps its slots' prompt caches and a grounding check reuses the context the
judge already read. The router answers /v1/models while its models generate, so "is it up?" is plain HTTP.
Its pid, preset and log live under `data/llm/`, so `make run` reuses a server that is already up.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from ops.llama_build import server_binary
from ops.models import LLMS, llm_path
from settings import Settings, public_url

# 8192 tokens over 2 slots: a top-k context, the answer and the follow-up checks fit one slot's 4096.
CONTEXT_TOKENS = 8192
SLOTS = 2
BATCH = 256


class LLMServerError(RuntimeError):
    """The local server could not be started."""


def preset(settings: Settings, aliases: list[str]) -> str:
    """The router's model presets (INI): every model loaded at start, prompts on every core, generation on
    `settings.llm_threads` (two generating threads on two cores collapsed whenever anything else ran)."""
    lines = ["version = 1", "", "[*]", f"c = {CONTEXT_TOKENS}", f"np = {SLOTS}", f"b = {BATCH}",
             f"t = {settings.llm_threads}", f"tb = {os.cpu_count() or 2}", ""]
    for alias in aliases:
        path = llm_path(settings, alias)
        if not path.exists():
            raise LLMServerError(f"model {alias} is not installed at {path}. Run `make setup`.")
        lines += [f"[{alias}]", f"model = {path.resolve()}", "load-on-startup = true", ""]
    return "\n".join(lines)


def _status(model: dict) -> str:
    status = model.get("status")
    return str(status.get("value") if isinstance(status, dict) else status or "loaded")


def served_models(base_url: str, timeout: float = 2.0, *, loaded_only: bool = False) -> set[str]:
    """Model ids an OpenAI-compatible endpoint lists (with `loaded_only`, those a router has loaded)."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
        models = response.json()["data"] if response.status_code == 200 else []
        return {m["id"] for m in models if not loaded_only or _status(m) in ("loaded", "sleeping")}
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return set()


def is_up(base_url: str, timeout: float = 2.0) -> bool:
    return bool(served_models(base_url, timeout))


def port_open(base_url: str) -> bool:
    url = urlparse(base_url)
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=1):
            return True
    except OSError:
        return False


def wait_until_serving(base_url: str, wait_s: float, aliases: set[str] | None = None,
                       proc: subprocess.Popen | None = None, log: Path | None = None) -> set[str]:
    """Poll until the endpoint lists `aliases` as loaded (any model when None); what it serves at the deadline."""
    deadline = time.monotonic() + wait_s
    while True:
        models = served_models(base_url, timeout=5.0, loaded_only=True)
        if (models and (aliases is None or aliases <= models)) or time.monotonic() > deadline:
            return models
        if proc is not None and proc.poll() is not None:
            raise LLMServerError(f"the LLM server exited with code {proc.returncode}; see {log}")
        time.sleep(0.5)


def terminate(pid: int, wait_s: float = 10.0) -> None:
    """SIGTERM the server's process group (the router and its model processes), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)


def start(settings: Settings, aliases: list[str] | None = None, port: int | None = None, workdir: Path | None = None,
          wait_s: float = 180.0) -> tuple[subprocess.Popen | None, str]:
    """Start a server (or reuse one that serves the models) and return (process or None if reused, base_url)."""
    aliases = aliases or list(LLMS)
    url = urlparse(settings.openai_base_url)
    host, port = url.hostname or "127.0.0.1", port or url.port or 8766
    base_url = f"http://{host}:{port}/v1"
    if port_open(base_url):  # ours from an earlier `make run`, perhaps still loading its models
        if set(aliases) <= wait_until_serving(base_url, wait_s, set(aliases)):
            return None, base_url
        raise LLMServerError(f"port {port} is taken by a process that does not serve {', '.join(aliases)} "
                             "as an OpenAI-compatible server")
    binary = server_binary(settings)
    if not binary.exists():
        raise LLMServerError(f"llama-server is not built at {binary}. Run `make setup`.")
    workdir = (workdir or settings.data_dir / "llm").resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "models.ini").write_text(preset(settings, aliases))
    log_path = workdir / "server.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [str(binary), "--models-preset", str(workdir / "models.ini"), "--models-max", str(len(aliases)), "--host", host,
             "--port", str(port), "--no-ui"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=workdir,
        )
    (workdir / "server.pid").write_text(str(proc.pid))
    if set(aliases) <= wait_until_serving(base_url, wait_s, set(aliases), proc, log_path):
        return proc, base_url
    terminate(proc.pid)
    raise LLMServerError(f"the LLM server did not load {', '.join(aliases)} within {wait_s:.0f} s; see {log_path}")


def stop(settings: Settings) -> bool:
    pid_file = settings.data_dir / "llm" / "server.pid"
    if not pid_file.exists():
        return False
    try:
        terminate(int(pid_file.read_text()))
    except ValueError:
        pass
    pid_file.unlink()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bundled local LLM server in the background.")
    parser.add_argument("action", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    settings = Settings()
    if args.action == "status":
        up = is_up(settings.openai_base_url)
        print(f"{public_url(settings.openai_base_url)}: {'up' if up else 'down'}")
        return 0 if up else 1
    if args.action == "stop":
        print("stopped" if stop(settings) else "no server started by us is running")
        return 0
    if not settings.uses_local_llm:
        print(f"OPENAI_BASE_URL points at {public_url(settings.openai_base_url)}; not starting the local server.")
        return 0
    try:
        proc, base_url = start(settings)
    except LLMServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"LLM server {'started' if proc else 'already running'} at {base_url} (log: {settings.data_dir}/llm/server.log)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
