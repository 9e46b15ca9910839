"""Process-wide resources for the dashboard, created once (embedded Qdrant allows one client per folder)."""

from __future__ import annotations

import streamlit as st
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from evaluation.runstore import RunStore
from ingest.embedder import embedder_info, make_embedder
from ingest.store import VectorStore, open_client
from ops import profiles
from pipeline.llm import make_chat_model
from pipeline.question_log import QuestionLog
from settings import Settings


@st.cache_resource(show_spinner=False)
def _operator_settings() -> Settings:
    """The settings as the process started with them: the operator's fields (folders, endpoints) never change."""
    return Settings()


def settings() -> Settings:
    """The settings in effect, read again whenever a profile is saved, made active, edited or turned off."""
    return _settings_at(profiles.stamp(_operator_settings().data_dir))


@st.cache_resource(show_spinner=False, max_entries=8)
def _settings_at(stamp: tuple) -> Settings:
    return Settings()


@st.cache_resource(show_spinner="Opening the knowledge base…")
def vector_store() -> VectorStore:
    base = settings()
    return VectorStore(open_client(base), embedder_info(base))


@st.cache_resource(show_spinner="Loading the embedding model…")
def embedder() -> Embeddings:
    return make_embedder(settings())


@st.cache_resource(show_spinner=False)
def run_store() -> RunStore:
    return RunStore(settings().runs_db)


@st.cache_resource(show_spinner=False)
def question_log() -> QuestionLog | None:
    """The question log to read and give feedback in: None when logging is off and nothing was ever logged."""
    base = settings()
    return QuestionLog(base.question_log_db) if base.question_log or base.question_log_db.exists() else None


def chat_model(config: Settings) -> BaseChatModel:
    """Cheap to build; not cached so a changed model or endpoint takes effect at once."""
    return make_chat_model(config)
