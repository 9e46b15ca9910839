"""The answering model: any OpenAI-compatible endpoint through langchain-openai, with errors a person can act on."""

from __future__ import annotations

import re
from typing import Literal

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from settings import Settings


class LLMError(RuntimeError):
    """The LLM endpoint failed; the message says what to do."""


def make_chat_model(settings: Settings) -> BaseChatModel:
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key,
        temperature=0,
        max_tokens=settings.llm_max_tokens,
        timeout=settings.llm_timeout_s,
        max_retries=1,
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


def refused_json_schema(exc: Exception, settings: Settings, model: str) -> bool:
    """True (and remembered) when an auto-mode endpoint answered a json_schema request with a client or server error:
    llama-cpp-python's server answers HTTP 500, others 400 or 422. The caller asks again in JSON mode. An error about
    the request's size (llama-server's 400 "request exceeds the available context size") is no refusal: JSON mode
    would fail the same way, and the endpoint keeps json_schema."""
    if settings.structured_output != "auto" or not isinstance(
            exc, openai.BadRequestError | openai.InternalServerError | openai.UnprocessableEntityError):
        return False
    if _ABOUT_SIZE.search(str(getattr(exc, "message", exc))):
        return False
    _NO_JSON_SCHEMA.add((settings.openai_base_url, model))
    return True


def invoke_structured(llm: BaseChatModel, messages: list[BaseMessage], schema: type[BaseModel], settings: Settings,
                      model: str, **kwargs: object) -> AIMessage:
    """One reply shaped by `schema`: json_schema where the endpoint takes it, JSON mode where it refused it (then
    remembered for the process). `kwargs` bind further request arguments (max_tokens, logprobs)."""
    mode = structured_mode(settings, model)
    try:
        return llm.bind(response_format=response_format(schema, mode), **kwargs).invoke(messages)
    except openai.APIStatusError as exc:
        if mode != "json_schema" or not refused_json_schema(exc, settings, model):
            raise
        return llm.bind(response_format=response_format(schema, "json_object"), **kwargs).invoke(messages)


def explain_llm_error(exc: Exception, settings: Settings) -> LLMError:
    """Map client exceptions to a message naming the endpoint and the fix."""
    url = settings.openai_base_url
    how = ("start the bundled server with `make llm`" if settings.uses_local_llm
           else "check OPENAI_BASE_URL and that the server is running")
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return LLMError(f"The LLM at {url} did not answer within {settings.llm_timeout_s:.0f} s. It may be busy or "
                        "overloaded; try again, lower top-k, or raise FQA_LLM_TIMEOUT_S.")
    if isinstance(exc, openai.APIConnectionError | httpx.ConnectError):
        return LLMError(f"The LLM endpoint {url} is not reachable: {how}.")
    if isinstance(exc, openai.AuthenticationError):
        return LLMError(f"The LLM endpoint {url} rejected the API key: check OPENAI_API_KEY.")
    if isinstance(exc, openai.NotFoundError):
        return LLMError(f"The LLM endpoint {url} does not serve the model {settings.llm_model!r}: check FQA_LLM_MODEL.")
    if isinstance(exc, openai.APIStatusError):
        return LLMError(f"The LLM endpoint {url} answered HTTP {exc.status_code}: {exc.message}")
    return LLMError(f"The LLM call failed: {exc.__class__.__name__}: {exc}")
