"""Operational helpers: fetching models from registries and running the local LLM server."""
