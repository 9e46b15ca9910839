"""The one settings object: environment variables and `.env`, validated once, passed down.

Standard names (OPENAI_*, QDRANT_*) are honoured so the app points at OpenAI, vLLM, Ollama or a
Qdrant server exactly as other tools do; everything of our own uses the FQA_ prefix.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

LOCAL_LLM_PORT = 8766
# A name a person types that becomes a path (a collection's folder, a saved eval set's file): a small safe alphabet,
# no separator, no leading dot (so never "." or ".."), bounded length. `identifier` is the one check.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
IDENTIFIER_RULE = "letters, digits, '.', '-' or '_', at most 100 characters, starting with a letter or digit"


class InvalidNameError(ValueError):
    """A name that cannot become a path; the message says which characters may be used."""


def identifier(name: object, what: str = "name") -> str:
    """`name` unchanged when it is a safe identifier, else InvalidNameError. Every name a person types (a collection,
    a saved eval set) passes here before it is joined to a folder, so `..`, `/`, NUL or an absolute path never are."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        shown = repr(name)[:60] + ("…" if len(repr(name)) > 60 else "")
        raise InvalidNameError(f"{what} {shown} is not a usable name: use {IDENTIFIER_RULE}")
    return name


# fields never stored with a run or an answer's record: secrets, and folders that only mean something on this machine
UNSTORED = frozenset({"openai_api_key", "judge_api_key", "qdrant_api_key", "data_dir", "models_dir"})
URL_FIELDS = ("openai_base_url", "judge_base_url", "qdrant_url")
NO_KEY = "none"  # the key sent to an endpoint configured without one (the openai client would read OPENAI_API_KEY)


def public_url(url: str | None) -> str | None:
    """A URL as it may be stored or shown: credentials written into it (`https://user:key@host`, `?api-key=…`) and
    its fragment removed; scheme, host, port and path kept."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = (f"[{host}]" if ":" in host else host) + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def plain_error(exc: Exception) -> str:
    """An error as one plain line for a CLI or a page: a settings validation error without pydantic's type codes and
    documentation links, any other error as its message."""
    if isinstance(exc, ValidationError):
        return "; ".join(".".join(map(str, e["loc"])) + ": " * bool(e["loc"]) + str(e["msg"]).removeprefix("Value error, ")
                         for e in exc.errors())
    return str(exc)


# Profiles (issue 24): a saved configuration, <data_dir>/profiles/NAME.json, readable and editable JSON written by
# ops/profiles.py ({"name", "created_at", "origin", "settings": {field: value}}); the active one is named in
# <data_dir>/profiles/_active.json ("_" cannot begin a profile's name). Read here, as a settings source.
PROFILES = "profiles"
ACTIVE_PROFILE = "_active.json"
NO_PROFILE = "none"
# the operator's fields, never a profile's: endpoints and keys, folders, limits, how the models are served, the
# dashboard itself. Every other field (chunking, retrieval, grounding, models, whatever is added later) is a
# configuration a run, a sweep or a ladder can change, so a profile can keep it.
OPERATOR_FIELDS = UNSTORED | set(URL_FIELDS) | {
    "qdrant_engine", "sample_kb", "sample_eval_set", "sample_eval_set_large", "embedding_provider",
    "openai_embedding_model", "llm_timeout_s", "structured_output", "llm_threads", "judge_timeout_s",
    "judge_concurrency", "llm_retries", "max_file_bytes", "max_upload_files", "max_upload_bytes", "ingest_roots",
    "server_address", "profile", "first_chart_questions", "max_pdf_pages", "max_rows_per_file", "max_chunks_per_file",
    "max_extract_seconds", "question_log", "question_log_max_rows"}


@dataclass(frozen=True)
class ActiveProfile:
    """Which profile settings started from: its name and values, or the reason it was left out (`problem`)."""

    name: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None
    by_environment: bool = False  # chosen with FQA_PROFILE rather than made active in the dashboard


# what the profile source read, handed to the Settings object being built (a source returns values, nothing more)
_PROFILE_READ: ContextVar[ActiveProfile] = ContextVar("profile_read", default=ActiveProfile())
# set while building an object whose every value is given (a copy, a trial): the profile source is not read then
_ALL_GIVEN: ContextVar[bool] = ContextVar("all_given", default=False)


@contextmanager
def _all_given() -> Iterator[None]:
    token = _ALL_GIVEN.set(True)
    try:
        yield
    finally:
        _ALL_GIVEN.reset(token)


def profile_path(data_dir: Path, name: str) -> Path:
    """Where the profile `name` is kept; the name passes `identifier` first, so it never leaves the folder."""
    return Path(data_dir) / PROFILES / f"{identifier(name, 'profile')}.json"


def active_profile_name(data_dir: Path) -> str | None:
    """The name made active in the dashboard, None when none is; ValueError when the marker file is broken."""
    marker = Path(data_dir) / PROFILES / ACTIVE_PROFILE
    if not marker.exists():
        return None
    try:
        name = json.loads(marker.read_text(encoding="utf-8"))["name"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{marker} does not say which profile is active ({exc.__class__.__name__}: {exc})") from exc
    return identifier(name, "profile")


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FQA_", env_file=".env", extra="ignore")

    # storage
    data_dir: Path = Path("data")
    models_dir: Path = Field(default=Path.home() / ".cache" / "faithful-qa" / "models")
    qdrant_url: str | None = Field(default=None, validation_alias=_alias("QDRANT_URL", "FQA_QDRANT_URL"))
    qdrant_api_key: str | None = Field(default=None, validation_alias=_alias("QDRANT_API_KEY", "FQA_QDRANT_API_KEY"))
    # embedded engine when QDRANT_URL is unset: "edge" = qdrant-edge in <data_dir>/qdrant-edge (HNSW search
    # and fast writes, bench/retrieval.py), "local" = qdrant-client local mode in <data_dir>/qdrant (brute-force
    # search, one SQLite commit per point; the engine of earlier versions: `python -m ingest migrate` copies it)
    qdrant_engine: Literal["local", "edge"] = "edge"
    collection: str = "sample"
    sample_kb: Path = Path("samples/kb")
    sample_eval_set: Path = Path("samples/eval/sample.jsonl")  # the quick set: 20 questions
    # the large set (the quick 20 first, then whole articles' questions): enough to tell sweep cells apart
    sample_eval_set_large: Path = Path("samples/eval/sample_large.jsonl")
    # the configuration to start from (issue 24): "" = the profile made active in the dashboard (or none), a name =
    # that saved profile, "none" = the built-in defaults whatever is active. The environment still wins over it
    profile: str = ""
    # the Evaluation page's first chart: faithfulness of this many bundled sample questions, computed in the
    # background when the dashboard starts on a data folder without it; 0 = never
    first_chart_questions: int = Field(default=4, ge=0, le=20)

    # embeddings: the bundled ONNX MiniLM unless an OpenAI embedding model is named
    embedding_provider: Literal["fastembed", "openai"] = "fastembed"
    openai_embedding_model: str = "text-embedding-3-small"

    # answering model (OpenAI-compatible endpoint; default = the bundled llama.cpp server)
    openai_base_url: str = Field(
        default=f"http://127.0.0.1:{LOCAL_LLM_PORT}/v1",
        validation_alias=_alias("OPENAI_BASE_URL", "FQA_OPENAI_BASE_URL"),
    )
    openai_api_key: str = Field(default="local", validation_alias=_alias("OPENAI_API_KEY", "FQA_OPENAI_API_KEY"))
    # the bundled 1.5B answers more questions right than the 0.5B, which stays a choice that reads twice as fast;
    # reading only the best sentences (context_tokens) keeps the 1.5B's time near the 0.5B's (docs/benchmarks.md,
    # "Reading less")
    llm_model: str = "qwen2.5-1.5b"
    llm_timeout_s: float = 180.0
    # how JSON replies are asked for: "auto" sends json_schema (grammar-constrained on llama-server, vLLM, OpenAI)
    # and falls back to JSON mode (the schema quoted in the prompt) for an endpoint that refuses it
    structured_output: Literal["auto", "json_schema", "json_object"] = "auto"
    llm_max_tokens: int = 256
    # threads the bundled llama.cpp server generates with (prompt processing uses every core). One: on 2 cores,
    # two generating threads wait on each other whenever anything else runs (a query embedding, a test, a
    # helper) and fell to 0.9 tokens/s; one thread kept 4.4 tokens/s beside the same load (1.5B, load avg 6).
    llm_threads: int = Field(default=1, ge=1, le=64)

    # judge for evaluation, configured separately (defaults to the same endpoint, a bigger model)
    judge_base_url: str | None = None
    judge_api_key: str | None = None
    judge_model: str = "qwen2.5-1.5b"
    judge_timeout_s: float = 300.0
    # how many of one sample's metric calls are in flight at once: the bundled server has 2 slots per model, and
    # Ragas' evaluate() at 2 jobs beat our one-at-a-time scoring (bench/eval_speed.py, docs/benchmarks.md)
    judge_concurrency: int = Field(default=2, ge=1, le=16)

    # faults (issue 14): retries of a failed LLM call (refused connection, timeout, HTTP 408/409/429/5xx), with the
    # openai client's exponential backoff; small, since every retry of a timeout waits llm_timeout_s again
    llm_retries: int = Field(default=1, ge=0, le=3)

    # chunking and retrieval defaults
    chunk_size: int = Field(default=600, ge=50, le=8000)
    chunk_overlap: int = Field(default=80, ge=0)
    top_k: int = Field(default=4, ge=1, le=50)
    # the score gate: below this best cosine the pipeline abstains without asking the model. Chosen on tuning questions
    # only (docs/benchmarks.md, "The score gate"): under it the check withholds what the gate used to stop
    min_score: float = Field(default=0.30, ge=-1.0, le=1.0)
    # what the model reads (pipeline/focus.py): of the retrieved passages, the sentences that match the question best,
    # each with `context_neighbours` sentences either side, up to about this many tokens; 0 = every passage whole.
    # Chosen on tuning questions only (docs/benchmarks.md, "Reading less")
    context_tokens: int = Field(default=160, ge=0, le=8000)
    context_neighbours: int = Field(default=1, ge=0, le=5)

    # knowledge base management (issue 5): chunking strategy (sizes in tokens for "token"), per-file size limit
    chunk_strategy: Literal["recursive", "token", "markdown"] = "recursive"
    max_file_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # one upload (the Knowledge base page's file picker) at most: thousands of tiny files or a few huge ones would
    # otherwise be staged on disk and embedded before anyone could stop them (issue 14)
    max_upload_files: int = Field(default=500, ge=1)
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    # what reading one file may cost, whatever its size (issue 21; ingest/loaders.py FileLimits): a 4 kB PDF listing one
    # page 90,000 times asked for 26 s of CPU, a 1.5 MB CSV of 200k rows took 289 MB before any vector
    # (docs/benchmarks.md, hostile documents). Each refusal names the setting that raises it.
    max_pdf_pages: int = Field(default=2000, ge=1)  # a long book; text extraction costs ~20 ms a page
    max_rows_per_file: int = Field(default=20_000, ge=1)  # csv/jsonl rows, each a document of its own
    # chunks held (text, payload, then vector: about 15 kB each) until the file is written: 20k ≈ 300 MB, ≈ 10 MB of
    # text at 600-character chunks
    max_chunks_per_file: int = Field(default=20_000, ge=1)
    # CPU seconds (of the reading thread) to get one file's text, checked between pages and rows and after a parse
    max_extract_seconds: float = Field(default=60.0, gt=0)
    # folders a folder ingest (the page's folder field, `python -m ingest PATH`) may read, real paths after symlinks;
    # relative ones are taken from the working directory. Env: a PATH-style list, FQA_INGEST_ROOTS=data:samples:/srv/docs
    # An empty list turns folder ingest off (uploads still work).
    ingest_roots: Annotated[list[Path], NoDecode] = Field(default_factory=lambda: [Path("data"), Path("samples")])

    # the question log (pipeline/question_log.py): every answer the Ask page and `python -m pipeline` give, with its
    # checks, seconds and feedback, in <data_dir>/questions.sqlite; the oldest rows beyond the limit are removed
    # (those without feedback first), so the file stays bounded
    question_log: bool = True
    question_log_max_rows: int = Field(default=10_000, ge=1)

    # the dashboard's listening address (`make run`, ops/dashboard.py): loopback unless the operator asks otherwise,
    # since the dashboard has no login and anyone reaching it can read and ingest documents
    server_address: str = "127.0.0.1"

    # grounding check (pipeline/grounding.py): per-claim verdicts after every answer
    grounding_policy: Literal["annotate", "strict", "off"] = "annotate"
    # the judge: the 1.5B (the answer-level check RECIPES measured used it; on HaluEval both judges add little
    # beyond the term veto, bench/grounding.py). "" = the answering model. Cut at P(supported) >= 0.4
    grounding_model: str = "qwen2.5-1.5b"
    grounding_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    grounding_retries: int = Field(default=2, ge=1, le=5)
    # a claim naming a number or name found in neither the passages nor the question is not supported, whatever
    # the judge says (bench/grounding.py measures both ways)
    grounding_term_veto: bool = True
    # one more verdict per answer: do the passages state the answer to the question (not just facts near it)?
    grounding_answer_check: bool = True
    # its own P(true) cut: this verdict's P sits higher than the claim verdicts' (bench/abstention.py --out, 1.5B
    # judge, first 20 SQuAD 2.0 questions: answerable answered right 0.75-0.96, unanswerable answered anyway
    # 0.53-0.85), so the claims' 0.4 stopped none of them
    grounding_answer_threshold: float = Field(default=0.75, ge=0.0, le=1.0)
    # the cut when the judge's own model answers (the default pairing): a judge agrees more with its own model, so it
    # cuts higher; chosen on tuning questions only (docs/benchmarks.md, "Reading less")
    grounding_self_answer_threshold: float = Field(default=0.87, ge=0.0, le=1.0)
    # no LLM: every number, negation and comparative of the question must occur within a sentence of where the
    # answer was found (pipeline/details.py); SQuAD 2.0's unanswerable questions change one such detail
    grounding_detail_check: bool = True
    # what the judge reads: the passage sentences each claim was taken from ("quote") or every retrieved passage.
    # Quote: the answer check's P separated right answers from answers to unanswerable questions better (AUC 0.96
    # vs 0.85 on 36 SQuAD 2.0 tuning answers) and the check took about half the time (bench/judge_scope.py)
    grounding_scope: Literal["quote", "passages"] = "quote"

    # retrieval strategy toggles (pipeline/retrieval.py, rerank.py, query_expansion.py). Default hybrid + cheap
    # rerank: hit@1 0.90 vs 0.81 for dense on 242 SQuAD questions, +0.04 s per question (bench/rerank.py)
    retrieval_mode: Literal["dense", "mmr", "hybrid"] = "hybrid"
    fetch_k: int = Field(default=12, ge=1, le=100)  # candidates fetched for MMR, hybrid fusion and reranking
    mmr_lambda: float = Field(default=0.5, ge=0.0, le=1.0)  # 1 = pure relevance, 0 = pure diversity
    rerank: Literal["none", "cheap", "llm"] = "cheap"
    query_expansion: Literal["none", "multi", "hyde"] = "none"
    expansion_queries: int = Field(default=3, ge=1, le=5)  # paraphrases written for multi-query expansion

    _profile: ActiveProfile = PrivateAttr(default_factory=lambda: ActiveProfile())

    def model_post_init(self, context: Any, /) -> None:
        """Keep what the profile source read for this object (then forget it, so no later object inherits it)."""
        if not _ALL_GIVEN.get():
            self._profile = _PROFILE_READ.get()
            _PROFILE_READ.set(ActiveProfile())

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple:
        """Precedence: arguments, then the environment and `.env` (the operator's), then the active profile, then
        the built-in defaults."""
        return init_settings, env_settings, dotenv_settings, ProfileSource(settings_cls), file_secret_settings

    @property
    def active_profile(self) -> ActiveProfile:
        """The profile these settings started from (its name, its values, or why it could not be used)."""
        return self._profile

    @field_validator("collection")
    @classmethod
    def _collection_is_identifier(cls, value: str) -> str:
        return identifier(value, "collection")

    @field_validator("ingest_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        """FQA_INGEST_ROOTS is a list like PATH (os.pathsep between folders); lists pass through."""
        if isinstance(value, str):
            return [part for part in value.split(os.pathsep) if part.strip()]
        return value

    @model_validator(mode="after")
    def _check_overlap(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})")
        return self

    @property
    def qdrant_path(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def runs_db(self) -> Path:
        return self.data_dir / "runs.sqlite"

    @property
    def question_log_db(self) -> Path:
        return self.data_dir / "questions.sqlite"

    @property
    def judge_endpoint(self) -> tuple[str, str]:
        """(base URL, key) of the Ragas judge. A key goes only to the endpoint it was configured for: a judge at a
        base URL of its own gets its own key, or none, never the answering endpoint's."""
        if self.judge_base_url:
            return self.judge_base_url, self.judge_api_key or NO_KEY
        return self.openai_base_url, self.openai_api_key

    def endpoint_notes(self) -> list[str]:
        """What an operator should know at start-up about the endpoints' keys (printed by `make run`)."""
        if self.judge_base_url and not self.judge_api_key and public_url(self.judge_base_url) != public_url(
                self.openai_base_url):
            return [f"FQA_JUDGE_BASE_URL ({public_url(self.judge_base_url)}) has no FQA_JUDGE_API_KEY: the judge is "
                    "sent no key (the answering endpoint's key goes only to the answering endpoint). Set "
                    "FQA_JUDGE_API_KEY if the judge's endpoint needs one."]
        return []

    def storable(self) -> dict:
        """The settings as they may be stored with a run or an answer: no secrets or local folders, URLs without
        credentials."""
        data = self.model_dump(mode="json", exclude=set(UNSTORED))
        return {**data, **{field: public_url(data[field]) for field in URL_FIELDS if field in data}}

    @property
    def uses_local_llm(self) -> bool:
        """True when the answering endpoint is the bundled server, which `make run` starts."""
        url = urlsplit(self.openai_base_url)
        return url.hostname in {"127.0.0.1", "localhost"} and url.port == LOCAL_LLM_PORT

    def with_overrides(self, **changes: object) -> Settings:
        """A validated copy with some fields changed (CLI flags, dashboard widgets)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        with _all_given():
            changed = Settings.model_validate(data)
        changed._profile = self._profile
        return changed

    @classmethod
    def defaults(cls) -> Settings:
        """The built-in defaults: no environment, no `.env`, no profile (validating would read them all)."""
        built_in = cls.model_construct()
        built_in._profile = ActiveProfile()
        return built_in


def profile_settings(path: Path) -> dict[str, Any]:
    """The "settings" of a profile file, each a field a profile may set; ValueError saying what is wrong otherwise."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"{path} does not exist") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON ({exc})") from exc
    values = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise ValueError(f'{path} has no "settings" object')
    if unknown := sorted(set(values) - set(Settings.model_fields)):
        raise ValueError(f"{path} sets unknown settings: {', '.join(unknown)}")
    if operator := sorted(set(values) & OPERATOR_FIELDS):
        raise ValueError(f"{path} sets {', '.join(operator)}, which only the environment or .env may set")
    return values


def named_error(exc: Exception) -> str:
    """A validation error with the field each message is about ("top_k: Input should be …"); else the message."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {str(e['msg']).removeprefix('Value error, ')}"
                         for e in exc.errors())
    return str(exc)


class ProfileSource(PydanticBaseSettingsSource):
    """The active profile's values, below the environment and `.env` (consulted before it, so they win) and above
    the built-in defaults. A profile that cannot be used (missing, broken, hand-edited wrongly, or invalid together
    with the environment) is left out with its reason in `Settings.active_profile.problem`: never an error."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # the whole profile is read at once in __call__

    def __call__(self) -> dict[str, Any]:
        if _ALL_GIVEN.get():
            return {}  # a copy or a trial object: every value is given
        read = self._read()
        _PROFILE_READ.set(read)
        return read.values

    def _read(self) -> ActiveProfile:
        state = self.current_state  # what the arguments, the environment and .env set
        requested = str(state.get("profile") or "").strip()
        if requested.lower() == NO_PROFILE:
            return ActiveProfile()
        data_dir = Path(state.get("data_dir") or self.settings_cls.model_fields["data_dir"].default)
        name = requested or None
        try:
            name = identifier(requested, "profile") if requested else active_profile_name(data_dir)
            if name is None:
                return ActiveProfile()
            values = profile_settings(profile_path(data_dir, name))
            self._check({**values, **state})
        except (ValueError, ValidationError) as exc:
            try:
                self._check(state)
            except ValidationError:
                return ActiveProfile()  # the environment alone is invalid: the operator's error to see, not the profile's
            which = f"profile {name or requested!r}" if name or requested else "the active profile"
            problem = f"{which} cannot be used, so the built-in defaults apply: {named_error(exc)}"
            return ActiveProfile(name, {}, problem, bool(requested))
        return ActiveProfile(name, values, None, bool(requested))

    def _check(self, data: dict[str, Any]) -> None:
        """Validate `data` as settings (ValidationError if it is not); the trial object reads no profile."""
        with _all_given():
            self.settings_cls.model_validate(data)
