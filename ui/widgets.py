"""Widgets more than one page uses: guarded resource access, collection picker, answers with grounding, citations."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from typing import NamedTuple, TypeVar

import streamlit as st

from ingest.embedder import EmbedderUnavailableError
from evaluation.runstore import RunStore, RunSummary
from ingest.store import StoreError, VectorStore
from pipeline.answer import Answer, Citation
from pipeline.grounding import JUDGED_ONCE, Grounding
from pipeline.retrieval import best_similarity
from settings import Settings
from ui import resources
from ui.safe_text import literal

T = TypeVar("T")

KNOWN_ERRORS = (StoreError, EmbedderUnavailableError)


def guarded(load: Callable[[], T]) -> T:
    """Run a resource loader; on a known failure show the message and stop the page (no traceback)."""
    try:
        return load()
    except KNOWN_ERRORS as exc:
        st.error(literal(str(exc)), icon=":material/error:")
        st.stop()
        raise  # unreachable: st.stop() raises


def run_label(run: RunSummary) -> str:
    """How a run reads in every run picker: its id, then what it evaluated, so a bench's stored run is recognisable."""
    return f"{run.id} · {run.eval_set} · top-k {run.config.get('top_k')} · {run.status} · {run.n_done}/{run.n_items}"


def store_or_stop() -> VectorStore:
    return guarded(resources.vector_store)


def collection_picker(store: VectorStore, key: str) -> str | None:
    """Sidebar select of collections, remembered in the URL (?collection=…) so a view can be shared."""
    names = store.names()
    if not names:
        return None
    wanted = st.query_params.get("collection") or resources.settings().collection
    index = names.index(wanted) if wanted in names else 0
    name = st.sidebar.selectbox("Collection", names, index=index, key=key)
    st.query_params["collection"] = name
    return name


class EvalPage(NamedTuple):
    """What the Evaluation and Tune pages both start from."""

    store: VectorStore
    runs: RunStore
    settings: Settings
    collection: str | None


def eval_page_setup(namespace: str) -> EvalPage:
    """The store, the run store, the settings and the sidebar collection picker (keyed `<namespace>.collection`)."""
    store = store_or_stop()
    return EvalPage(store, resources.run_store(), resources.settings(), collection_picker(store, f"{namespace}.collection"))


def empty_knowledge_base() -> None:
    st.info("The knowledge base is empty. Ingest documents first, or run `make run`, which loads the bundled sample.",
            icon=":material/inbox:")
    st.page_link("views/knowledge_base.py", label="Open the Knowledge base page", icon=":material/upload:")


VERDICT_LOOK = {  # verdict -> (icon, colour, label)
    "supported": ("✅", "green", "supported"),
    "not_supported": ("⚠️", "red", "not supported"),
    "unchecked": ("❔", "gray", "unchecked"),
    "abstain": ("➖", "gray", "no claim"),
}


READ_STYLE = "background: #e0f2fe"  # what the model read of a passage it did not read whole


def highlighted(text: str, span: tuple[int, int] | None, read: list[tuple[int, int]] | None = None) -> str:
    """Chunk text as safe HTML: everything escaped; the supporting span in <mark>; when the model read only parts of
    the chunk, those parts shaded."""
    cuts = sorted({0, len(text), *(edge for s in [span, *(read or [])] if s for edge in s)})
    pieces = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        piece = html.escape(text[start:end])
        if span and span[0] <= start and end <= span[1]:
            piece = f"<mark>{piece}</mark>"
        if read and any(a <= start and end <= b for a, b in read):
            piece = f'<span style="{READ_STYLE}">{piece}</span>'
        pieces.append(piece)
    return "".join(pieces)


def grounding_badge(grounding: Grounding) -> None:
    if grounding.fully_supported:
        colour = "green"
    elif grounding.restated or not grounding.details_found or (
            not grounding.answers_question and grounding.answer_check.verdict == "not_supported"):
        colour = "red"
    elif not grounding.count("not_supported"):
        colour = "gray"  # nothing refuted, but some claims could not be checked
    else:
        colour = "orange" if grounding.count("supported") else "red"
    read = "the passage sentences the answer was taken from" if grounding.quote else "the passages"
    st.badge(literal(grounding.summary), color=colour, icon=":material/fact_check:",
             help=f"Each sentence checked against {read} by {literal(grounding.model)} "
                  f"(P(supported) ≥ {grounding.threshold:.2f} counts as supported), {grounding.seconds:.1f} s.")


def show_claims(grounding: Grounding) -> None:
    """One line per claim: the verdict, then the cheap signal (best passage similarity, names/numbers not found).

    Only our own labels are Markdown: the claim, its terms and the reasons come from the model or the documents.
    """
    check = grounding.answer_check
    # a one-sentence answer is judged once: its claim line carries the answer check, which then needs no line of its own
    once = check is not None and any(c.reason == JUDGED_ONCE for c in grounding.claims)
    for claim in grounding.claims:
        icon, colour, label = VERDICT_LOOK[claim.verdict]
        signal = claim.signal
        cheap = [f"similarity to best passage sentence {signal.similarity:.2f}"]
        if signal.missing_terms:
            cheap.append("not in the passages: " + ", ".join(map(literal, signal.missing_terms)))
        if claim.p_supported is not None:
            cheap.append(f"P(supported) {claim.p_supported:.2f}")
        if claim.reason == JUDGED_ONCE:
            cheap.append("one sentence, judged once: do the passages state the answer to the question?")
            cheap += [literal(check.reason)] if check and check.reason else []
        elif claim.reason:
            cheap.append(literal(claim.reason))
        st.markdown(f"{icon} :{colour}[**{label}**] {literal(claim.claim)}  \n:gray[{' · '.join(cheap)}]")
    if check and not once:
        icon, colour, label = VERDICT_LOOK[check.verdict]
        detail = " · ".join(x for x in (check.p_text, literal(check.reason or "")) if x)
        st.markdown(f"{icon} :{colour}[**{label}**] The passages state the answer to the question."
                    + (f"  \n:gray[{detail}]" if detail else ""))
    if grounding.quote:
        st.markdown(f":gray[The judge read where the answer was found, not every passage: “{literal(grounding.quote)}”]")
    if details := grounding.details:
        named = ", ".join(f"“{d.text}”" for d in details.details) or "none"
        if details.missing:
            st.markdown(f"⚠️ :red[**missing**] {literal(details.reason[0].upper() + details.reason[1:])}.  \n"
                        f":gray[the question's numbers, negations and comparatives: {literal(named)}]")
        elif details.details:
            st.markdown(f"✅ :green[**found**] The question's details ({literal(named)}) occur where the "
                        "answer was found.")


def work_done(answer: Answer) -> str:
    """"9.8 s (retrieval 0.1 s, answer 6.2 s, check 3.5 s) · 466 tokens read, 14 written": where the wait went, and the
    work in tokens, which are the same on every machine (seconds are not)."""
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in answer.stages.items())
    text = f"{answer.seconds:.1f} s" + (f" ({stages})" if stages else "")
    if answer.tokens:
        read, written = (sum(getattr(t, field) for t in answer.tokens.values()) for field in ("read", "written"))
        text += f" · {read:,} tokens read, {written:,} written"
    return text


def show_citation(c: Citation) -> None:
    with st.expander(f"[{c.marker}] {literal(c.source)} · chunk {c.chunk_index} (chars {c.start}–{c.end}) · score {c.score:.2f}"):
        if c.read:
            st.caption("Shaded: the sentences the model read; the rest of this passage was left out of its prompt.")
        st.html(f'<div class="fqa-chunk" style="white-space: pre-wrap">{highlighted(c.text, c.span, c.read)}</div>')


def show_answer(answer: Answer) -> None:
    grounding = answer.grounding
    if answer.abstained:
        best = best_similarity(answer.contexts) or 0.0
        why = {
            "low_retrieval_score": f"No passage is close enough to the question (best match {best:.2f}, threshold "
                                   f"{answer.config['min_score']:.2f}), so the model was not asked.",
            "model_abstained": "The model found no answer in the retrieved passages.",
            "empty_answer": "The model returned an empty answer.",
            # the shortfall may quote an endpoint's error message (an unchecked answer check's reason)
            "unsupported_claims": "The draft answer was withheld (strict grounding policy): "
                                  f"{literal(grounding.shortfall) if grounding else 'it was not confirmed'}.",
        }[answer.abstain_reason or "model_abstained"]
        st.warning(literal(answer.answer), icon=":material/help:")
        st.caption(why)
    else:
        st.success(literal(answer.answer), icon=":material/fact_check:")
        if not any(c.cited for c in answer.citations):
            st.caption("No answer sentence could be matched to a passage; all retrieved passages are listed.")
    if grounding:
        grounding_badge(grounding)
        show_claims(grounding)
    st.caption(work_done(answer) + f" · top-k {answer.config['top_k']} · model {literal(answer.config['llm_model'])}")
    for c in answer.citations:
        show_citation(c)
    if answer.abstained and answer.contexts:
        with st.expander("Closest passages (not used)"):
            for c in answer.contexts:
                st.caption(f"{literal(c.source)} · chunk {c.chunk_index} · score {c.score:.2f}")
                st.text(c.text)


def stream_as_text(tokens: Iterable[str]) -> str:
    """Show tokens as they arrive, as literal text (not `st.write_stream`, which renders them as Markdown: a
    streamed `![x](https://…)` would be fetched before the checked answer replaces it). Returns the whole text."""
    slot, text = st.empty(), ""
    for token in tokens:
        text += token
        slot.markdown(literal(text))
    return text
