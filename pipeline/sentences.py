"""Sentence boundaries, the unit the grounding check judges and the focus step keeps or leaves out."""

from __future__ import annotations

import re

import pysbd

_LINE = re.compile(r"[^\n]+")
# rule-based sentence boundaries (pysbd): a regex on ".!?" cut "St. Louis" and "U.S." in two
_SEGMENTER = pysbd.Segmenter(language="en", clean=False, char_span=True)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, whitespace trimmed; a line break always ends a sentence."""
    spans = []
    for line in _LINE.finditer(text):
        for sent in _SEGMENTER.segment(line.group()):
            raw = sent.sent
            start = line.start() + sent.start + (len(raw) - len(raw.lstrip()))
            end = line.start() + sent.start + len(raw.rstrip())
            if end > start:
                spans.append((start, end))
    return spans
