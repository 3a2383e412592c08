"""Reading the numbers a page of ``smsgate serve`` shows (the dashboard): every element with a
``data-metric`` attribute, its ``data-*`` attributes and its text, as a test or a browser sees it."""

from __future__ import annotations

from html.parser import HTMLParser


class PageNumbers(HTMLParser):
    """Feed it a page (or the DOM a browser dumped); ``found`` holds every ``data-metric`` element."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[dict[str, str]] = []
        self._open: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k[5:]: v or "" for k, v in attrs if k.startswith("data-")}
        if "metric" in data:
            data["text"] = ""
            self.found.append(data)
            self._open.append(data)

    def handle_data(self, text: str) -> None:
        for item in self._open:
            item["text"] += text

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open:
            self._open.pop()

    def one(self, metric: str, **match: str) -> int:
        """The value of the one element of ``metric`` whose attributes match (see :func:`one`)."""
        return one(self.found, metric, **match)


def numbers(page: str) -> list[dict[str, str]]:
    """Every ``data-metric`` element of ``page``."""
    parser = PageNumbers()
    parser.feed(page)
    return parser.found


def one(found: list[dict[str, str]], metric: str, **match: str) -> int:
    """The ``data-value`` of the single element of ``metric`` with attributes ``match``; asserts
    there is exactly one and that the number shown is that value."""
    hits = [f for f in found if f["metric"] == metric and all(f.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (metric, match, hits)
    assert hits[0]["text"].strip() == hits[0]["value"], "the number shown is the data-value"
    return int(hits[0]["value"])
