"""Build llama.cpp's own `llama-server` once per machine, from source a package registry serves and we verify.

Why this server: llama-cpp-python's server hosts both models in one process and swaps them by name, and every
swap reloads a GGUF and empties the prompt cache. `llama-server` in router mode keeps one resident process per
model, caches each slot's prompt (a grounding check reuses the context the judge already read) and honours
`response_format` json_schema with log-probabilities. Measured on the same GGUF files and prompts: answer 2.9 s
and check 6.1 s against 5.8 s and 15.6 s (docs/benchmarks.md).

Why from this source: no registry reachable here ships a llama-server binary, but the pinned llama-cpp-python
sdist on PyPI vendors the whole llama.cpp tree, server included. We download it with pip (never install it),
check its sha256, and build only the `llama-server` target with portable CPU flags: the default build targets
the build machine's newest CPU features and crashed here (SIGSEGV). Statically linked, so the one binary can be
moved into the cache; the prebuilt web UI (which would be fetched from a hub) is off.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ops.models import ModelSetupError, sha256_of
from settings import Settings

SDIST = "llama-cpp-python==0.3.36"
SDIST_FILE = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
VENDORED = "llama_cpp_python-0.3.36/vendor/llama.cpp"
CMAKE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
    "-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON",
    "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF", "-DLLAMA_OPENSSL=OFF",
)


def server_binary(settings: Settings) -> Path:
    """Where the built server lives: beside the model cache, keyed by the source's hash."""
    return settings.models_dir.parent / "llama.cpp" / SDIST_SHA256[:12] / "llama-server"


def _run(cmd: list[str], cwd: Path, log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise ModelSetupError(f"`{' '.join(cmd[:4])} …` failed (exit {result.returncode}); last lines of {log}:\n{tail}")


def _fetch_source(dest: Path) -> Path:
    """Download the sdist (no install), verify it, unpack it; the vendored llama.cpp folder."""
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           "--dest", str(dest), SDIST]
    result = subprocess.run(cmd, capture_output=True, text=True)
    sdist = dest / SDIST_FILE
    if result.returncode != 0 or not sdist.exists():
        raise ModelSetupError(f"pip could not download {SDIST}:\n{result.stderr[-2000:]}")
    if (actual := sha256_of(sdist)) != SDIST_SHA256:
        raise ModelSetupError(f"{SDIST_FILE}: sha256 {actual} does not match the pinned {SDIST_SHA256}")
    with tarfile.open(sdist) as tar:
        tar.extractall(dest, filter="data")
    return dest / VENDORED


def ensure_server(settings: Settings, jobs: int | None = None) -> Path:
    """The path of a working `llama-server`, building it first (≈ 10 minutes on two cores) if the cache lacks it."""
    binary = server_binary(settings)
    if binary.exists() and os.access(binary, os.X_OK):
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    log = binary.parent / "build.log"
    log.write_text("")
    with tempfile.TemporaryDirectory(prefix="fqa-llama-") as tmp:
        source = _fetch_source(Path(tmp))
        print(f"  building llama-server from {SDIST} (once per machine; log: {log}) …", flush=True)
        _run(["cmake", "-S", ".", "-B", "build", *CMAKE_FLAGS], source, log)
        _run(["cmake", "--build", "build", "--target", "llama-server", "-j", str(jobs or os.cpu_count() or 2)],
             source, log)
        built = source / "build" / "bin" / "llama-server"
        _run([str(built), "--version"], source, log)  # it starts on this CPU: the portable flags held
        partial = binary.with_name("llama-server.partial")
        shutil.copy2(built, partial)
        partial.replace(binary)  # whole or not at all: a cancelled build leaves no binary that looks finished
    return binary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build llama.cpp's llama-server from the pinned, verified source.")
    parser.parse_args(argv)
    if shutil.which("cmake") is None:
        print("error: cmake is needed to build llama-server: apt-get install cmake", file=sys.stderr)
        return 1
    try:
        print(f"  llama-server -> {ensure_server(Settings())}")
    except ModelSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
