"""Score answers with Ragas, store every run with the config that produced it."""
