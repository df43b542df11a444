"""The HTML document around a server-rendered page (console login/invitation pages, the
public invoice pages): one small page, its style inline, no script."""

from __future__ import annotations

from html import escape


def standalone_page(title: str, style: str, body: str) -> str:
    """A whole HTML document: `title` (escaped here), `style` inline, `body` (already HTML)
    in <main>."""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
