"""Serve the dashboard (`make dashboard`, the last step of `make run`) with the address and upload limit of Settings.

The dashboard has no login, and its Knowledge base page reads documents into an index anyone using it can question,
so it listens on loopback (settings.server_address, FQA_SERVER_ADDRESS, `make run ADDRESS=…`) unless the operator
asks for another address. Streamlit's own per-file upload limit (server.maxUploadSize, in MiB) is derived from
settings.max_file_bytes so the file picker refuses what ingest would refuse anyway, before the bytes arrive.

    python -m ops.dashboard [--port 8501]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys

from pydantic import ValidationError

from settings import Settings, plain_error


def upload_limit_mb(settings: Settings) -> int:
    """settings.max_file_bytes in Streamlit's unit (MiB), rounded up so no file ingest accepts is refused earlier."""
    return max(1, -(-settings.max_file_bytes // 2**20))


def is_loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def streamlit_command(settings: Settings, port: int) -> list[str]:
    """The `streamlit run` command line; flags win over .streamlit/config.toml, so this is what applies."""
    return [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
            "--server.address", settings.server_address, "--server.port", str(port),
            "--server.maxUploadSize", str(upload_limit_mb(settings)), "--browser.gatherUsageStats", "false"]


def banner(settings: Settings, port: int) -> str:
    host = settings.server_address
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
    lines = [f"Faithful QA dashboard: {url}  (Ctrl+C to stop; the LLM server keeps running, 'make llm-stop' ends it)"]
    lines += [f"note: {note}" for note in settings.endpoint_notes()]
    if not is_loopback(host):
        lines.append(f"warning: listening on {host}, not loopback. The dashboard has no login: anyone who can reach "
                     f"port {port} can ask questions about, and add documents to, your knowledge base. Put it behind "
                     "an authenticating reverse proxy or a firewall.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.dashboard", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"error: {plain_error(exc)}", file=sys.stderr)
        return 2
    print(banner(settings, args.port), flush=True)
    command = streamlit_command(settings, args.port)
    os.execv(command[0], command)  # Streamlit takes over this process: Ctrl+C reaches it directly


if __name__ == "__main__":
    sys.exit(main())
