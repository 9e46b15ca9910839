"""The answering model: any OpenAI-compatible endpoint through langchain-openai, with errors a person can act on."""

from __future__ import annotations

import re
from typing import Literal

import httpx
import httpx2
import openai
from langchain_core.callbacks import UsageMetadataCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from settings import Settings, public_url


class Tokens(BaseModel):
    """What a stage of an answer cost the endpoint, where it reports OpenAI `usage`: the same on every machine, unlike
    seconds (docs/benchmarks.md). `read` counts every prompt token, `cached` those the server's prompt cache served."""

    read: int = 0
    written: int = 0
    cached: int = 0

    @classmethod
    def counted(cls, counter: UsageMetadataCallbackHandler) -> Tokens:
        """The sum over every model a LangChain usage callback saw (a streamed reply's usage is on its last chunk)."""
        usages = list(counter.usage_metadata.values())
        return cls(read=sum(u.get("input_tokens", 0) for u in usages),
                   written=sum(u.get("output_tokens", 0) for u in usages),
                   cached=sum((u.get("input_token_details") or {}).get("cache_read", 0) for u in usages))


class LLMError(RuntimeError):
    """The LLM endpoint failed; the message says what to do."""


# What a failed LLM call raises: the openai client's errors, and, while a streamed reply is read, the transport
# errors of the HTTP client under it (openai 3 sends with httpx2; a dropped stream is not wrapped in an openai error)
LLM_FAILURES = (openai.OpenAIError, httpx.TransportError, httpx2.TransportError)


def make_chat_model(settings: Settings) -> BaseChatModel:
    """The chat model; the openai client retries a refused connection, a timeout, HTTP 408/409/429/5xx
    `llm_retries` times with exponential backoff (0.5 s doubling, jittered, honouring Retry-After), no more."""
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        temperature=0,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=settings.llm_retries,
        stream_usage=True,  # a streamed answer's token counts (OpenAI, vLLM, llama-server and Ollama send them)
    )


StructuredMode = Literal["json_schema", "json_object"]
# (base URL, model) pairs that refused a json_schema request in this process: JSON mode from then on
_NO_JSON_SCHEMA: set[tuple[str, str]] = set()
_ABOUT_SIZE = re.compile(r"context (size|length|window)|too (long|many tokens)|maximum context", re.I)


def structured_mode(settings: Settings, model: str) -> StructuredMode:
    """json_schema (grammar-constrained on llama.cpp, vLLM, OpenAI) unless configured or found unsupported."""
    if settings.structured_output != "auto":
        return settings.structured_output
    return "json_object" if (settings.openai_base_url, model) in _NO_JSON_SCHEMA else "json_schema"


def response_format(schema: type[BaseModel], mode: StructuredMode) -> dict:
    """The OpenAI `response_format` asking for `schema`; JSON mode leaves the schema to the prompt and pydantic."""
    if mode == "json_object":
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()}}


def may_refuse_json_schema(exc: Exception, settings: Settings) -> bool:
    """True when an auto-mode endpoint answered a json_schema request with an error that may mean "no json_schema
    here": llama-cpp-python's server answers HTTP 500, others 400 or 422. The caller asks again in JSON mode and
    calls `remember_json_mode` only if that works: a server that answers 500 to everything (overloaded, crashing)
    is failing, not refusing, and must not lose json_schema for the rest of the process. An error about the
    request's size (llama-server's 400 "request exceeds the available context size") is no refusal: JSON mode
    would fail the same way."""
    if settings.structured_output != "auto" or not isinstance(
            exc, openai.BadRequestError | openai.InternalServerError | openai.UnprocessableEntityError):
        return False
    return not _ABOUT_SIZE.search(str(getattr(exc, "message", exc)))


def remember_json_mode(settings: Settings, model: str) -> None:
    """The endpoint refused json_schema and answered in JSON mode: ask it in JSON mode for the rest of the process."""
    _NO_JSON_SCHEMA.add((settings.openai_base_url, model))


def invoke_structured(llm: Runnable, messages: list[BaseMessage], schema: type[BaseModel], settings: Settings,
                      model: str, **kwargs: object) -> AIMessage:
    """One reply shaped by `schema`: json_schema where the endpoint takes it, JSON mode where it refused it (then
    remembered for the process). `kwargs` bind further request arguments (max_tokens, logprobs)."""
    mode = structured_mode(settings, model)
    try:
        return llm.bind(response_format=response_format(schema, mode), **kwargs).invoke(messages)
    except openai.APIStatusError as exc:
        if mode != "json_schema" or not may_refuse_json_schema(exc, settings):
            raise
    message = llm.bind(response_format=response_format(schema, "json_object"), **kwargs).invoke(messages)
    remember_json_mode(settings, model)
    return message


def explain_llm_error(exc: Exception, settings: Settings) -> LLMError:
    """Map client exceptions to a message naming the endpoint (without credentials) and the fix."""
    url = public_url(settings.openai_base_url)
    how = ("start the bundled server with `make llm`" if settings.uses_local_llm
           else "check OPENAI_BASE_URL and that the server is running")
    tries = f"{settings.llm_retries + 1} tries" if settings.llm_retries else "1 try"
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | httpx2.TimeoutException):
        return LLMError(f"The LLM at {url} did not answer within {settings.llm_timeout_s:.0f} s ({tries}). It may be "
                        "busy or overloaded; try again, lower top-k, or raise FQA_LLM_TIMEOUT_S.")
    # the client wraps what the transport raised; a connection refused is "down", one closed mid-reply is "dropped"
    cause = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ is not None else exc
    if isinstance(cause, openai.APIConnectionError | httpx.ConnectError | httpx2.ConnectError):
        return LLMError(f"The LLM endpoint {url} is not reachable ({tries}): {how}.")
    if isinstance(cause, httpx.TransportError | httpx2.TransportError):
        return LLMError(f"The LLM endpoint {url} dropped the connection before the answer was complete "
                        f"({cause.__class__.__name__}, {tries}). The server may have crashed or restarted; ask again.")
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(f"The LLM endpoint {url} rejected the API key: check OPENAI_API_KEY.")
    if isinstance(exc, openai.NotFoundError):
        return LLMError(f"The LLM endpoint {url} does not serve the model {settings.llm_model!r}: check FQA_LLM_MODEL.")
    if isinstance(exc, openai.APIStatusError):
        retried = f" ({tries})" if exc.status_code >= 500 or exc.status_code in (408, 409, 429) else ""
        return LLMError(f"The LLM endpoint {url} answered HTTP {exc.status_code}{retried}: {exc.message}")
    return LLMError(f"The LLM call failed: {exc.__class__.__name__}: {exc}")
