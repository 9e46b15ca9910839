"""Start, stop and probe the bundled llama.cpp OpenAI-compatible server.

One server hosts the answering model and the judge (llama-cpp-python swaps models by alias).
Its pid and log live under `data/llm/`, so `make run` can reuse a server that is already up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

from ops.models import LLMS, llm_path
from settings import Settings


class LLMServerError(RuntimeError):
    """The local server could not be started."""


def server_config(settings: Settings, aliases: list[str], host: str, port: int) -> dict:
    models = []
    for alias in aliases:
        path = llm_path(settings, alias)
        if not path.exists():
            raise LLMServerError(f"model {alias} is not installed at {path}. Run `make setup`.")
        # n_ctx 4096 fits top-k context plus answer; prompts use every core, generation settings.llm_threads.
        models.append({"model": str(path), "model_alias": alias, "n_ctx": 4096, "n_threads": settings.llm_threads,
                       "n_threads_batch": os.cpu_count() or 2, "n_batch": 256})
    return {"host": host, "port": port, "models": models}


def served_models(base_url: str, timeout: float = 2.0) -> set[str]:
    """Model ids an OpenAI-compatible endpoint lists; empty when it does not answer."""
    try:
        response = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
        return {m["id"] for m in response.json()["data"]} if response.status_code == 200 else set()
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


def wait_until_serving(base_url: str, wait_s: float) -> set[str]:
    """Models of a server that is up; llama-cpp-python does not answer /models while it generates, so poll."""
    deadline = time.monotonic() + wait_s
    while True:
        models = served_models(base_url, timeout=5.0)
        if models or time.monotonic() > deadline:
            return models
        time.sleep(1.0)


def terminate(pid: int, wait_s: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL: uvicorn waits for an in-flight generation on SIGTERM."""
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


def _llama_server_config(port: int) -> tuple[int, dict] | None:
    """(pid, config) of a llama_cpp.server whose config listens on `port` (Linux /proc; None elsewhere or if none).

    Such a server answers nothing, not even /models, while it generates: a busy one looks dead over HTTP.
    """
    try:
        pids = [name for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        proc = Path("/proc", pid)
        try:
            args = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            if "llama_cpp.server" not in args or "--config_file" not in args:
                continue
            config = json.loads((proc / "cwd" / args[args.index("--config_file") + 1]).read_text())
            if config.get("port") == port:
                return int(pid), config
        except (OSError, ValueError, IndexError, AttributeError):
            continue
    return None


def llama_server_on(port: int) -> int | None:
    """The pid of the llama_cpp.server listening on `port`, busy or not."""
    found = _llama_server_config(port)
    return found[0] if found else None


def llama_server_models(port: int) -> set[str]:
    """The model aliases that server was configured with (empty when there is none)."""
    found = _llama_server_config(port)
    return {m.get("model_alias") for m in found[1].get("models", [])} - {None} if found else set()


def start(settings: Settings, aliases: list[str] | None = None, port: int | None = None, workdir: Path | None = None,
          wait_s: float = 120.0) -> tuple[subprocess.Popen | None, str]:
    """Start a server (or reuse one that answers) and return (process or None if reused, base_url)."""
    url = urlparse(settings.openai_base_url)
    host, port = url.hostname or "127.0.0.1", port or url.port or 8766
    base_url = f"http://{host}:{port}/v1"
    if port_open(base_url):  # a running server may be busy generating: wait for it rather than start a second
        if llama_server_on(port) or wait_until_serving(base_url, wait_s):
            return None, base_url
        raise LLMServerError(f"port {port} is taken by a process that does not answer as an OpenAI-compatible server")
    workdir = workdir or settings.data_dir / "llm"
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "server.json"
    config.write_text(json.dumps(server_config(settings, aliases or list(LLMS), host, port), indent=2))
    log = (workdir / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--config_file", str(config)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    (workdir / "server.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LLMServerError(f"the LLM server exited with code {proc.returncode}; see {workdir / 'server.log'}")
        if is_up(base_url, timeout=1.0):
            return proc, base_url
        time.sleep(0.5)
    proc.terminate()
    raise LLMServerError(f"the LLM server did not answer within {wait_s:.0f} s; see {workdir / 'server.log'}")


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
        print(f"{settings.openai_base_url}: {'up' if up else 'down'}")
        return 0 if up else 1
    if args.action == "stop":
        print("stopped" if stop(settings) else "no server started by us is running")
        return 0
    if not settings.uses_local_llm:
        print(f"OPENAI_BASE_URL points at {settings.openai_base_url}; not starting the local server.")
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
