"""Retrieve chunks, answer only from them with citations, abstain when they do not hold the answer."""
