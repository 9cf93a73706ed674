"""Todoist's ``/sync`` answer read as it arrives: its items a window at a time.

The cycle after onboarding 10,000 leads reads back every task it created: an 81 MB answer.
Held whole (and its items as views into it) it was the daemon's peak memory, 90 MB above
every other cycle. Here the answer is split while it streams in: each window of complete
items (about ``WINDOW`` bytes) is handed on as its raw JSON elements and dropped once
read; everything but the items (the sync token, projects, collaborators: small) is kept
as the answer's JSON text with an empty item list, decoded at the end.

Splitting JSON without parsing it in Python: inside the item list, a window ends at the
last ``}`` followed by ``,`` and ``{`` (where one item ends and the next begins, in
compact and pretty-printed JSON alike), and msgspec checks the window is a list of
complete values. A cut that fell inside a string or a nested object makes invalid JSON,
so it is never taken for a boundary; the window is then split token by token instead
(the slow, exact path, also used for the list's last window). Outside the item list the
answer is read token by token: it is small. JSON's object keys have no order, so
``items`` may come anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Final

import msgspec

# Items per window: 1 MB is ~1,400 items, decoded in one call and dropped together.
WINDOW: Final = 1 << 20

HEAD: Final = 300  # characters of the answer kept for an error message
_WS: Final = b" \t\r\n"
# A string (complete), one structural character, or a lone quote: a string cut off by the
# end of what has arrived so far.
_TOKEN: Final = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\],:]|"', re.DOTALL)
_RAWS: Final = msgspec.json.Decoder(list[msgspec.Raw])


class MalformedAnswer(ValueError):
    """The answer is not one JSON object (cut off, or not JSON at all)."""


class SyncSplitter:
    """Splits one ``/sync`` answer arriving as ``chunks``.

    ``windows()`` yields the items, each window a list of raw JSON elements (views into
    one bytes object, so an element's memory goes with its window); once it is exhausted,
    ``rest`` is the whole answer with ``"items": []``.
    """

    def __init__(self, chunks: Iterable[bytes], *, window: int = WINDOW) -> None:
        self._chunks = iter(chunks)
        self._window = window
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self._rest = bytearray()
        self._done = False
        self.head = ""  # the answer's first characters, for an error message

    @property
    def rest(self) -> bytes:
        if not self._done:
            raise RuntimeError("the answer's items were not all read yet")
        return bytes(self._rest)

    # ------------------------------------------------------------------ input

    def _more(self) -> bool:
        """Read the next chunk into the buffer; False at the end of the answer."""
        if self._eof:
            return False
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        for chunk in self._chunks:
            if chunk:
                if len(self.head) < HEAD:
                    self.head += bytes(chunk[:HEAD]).decode("utf-8", "replace")[
                        : HEAD - len(self.head)
                    ]
                self._buf += chunk
                return True
        self._eof = True
        return False

    def _skip_ws(self) -> bool:
        """Move past whitespace; False when the answer ended first."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _WS:
                pos += 1
            self._pos = pos
            if pos < len(buf):
                return True
            if not self._more():
                return False

    # ------------------------------------------------------------- the answer

    def windows(self) -> Iterator[list[msgspec.Raw]]:
        if not self._skip_ws() or self._buf[self._pos] != ord("{"):
            raise MalformedAnswer("the answer is not a JSON object")
        depth = 0
        while True:
            buf, pos = self._buf, self._pos
            match = _TOKEN.search(buf, pos)
            if match is None or match.group() == b'"':
                # Nothing structural left in what arrived, or a string not yet complete.
                end = len(buf) if match is None else match.start()
                self._rest += buf[pos:end]
                self._pos = end
                if not self._more():
                    raise MalformedAnswer("the answer ended before its JSON object did")
                continue
            token = match.group()
            self._rest += buf[pos : match.end()]
            self._pos = match.end()
            if token in (b"{", b"["):
                depth += 1
            elif token in (b"}", b"]"):
                depth -= 1
                if depth == 0:
                    self._done = True
                    if self._skip_ws():
                        raise MalformedAnswer("the answer goes on after its JSON object")
                    return
            elif depth == 1 and token == b'"items"' and self._opens_list():
                # The key, its colon and the list's "[" are copied; the items are not.
                yield from self._items()
                self._rest += b"]"

    def _opens_list(self) -> bool:
        """After a top-level ``"items"``: is it a key whose value is a list? Copies the
        colon and the ``[`` into ``rest`` when it is."""
        if not self._skip_ws() or self._buf[self._pos] != ord(":"):
            return False
        self._rest += b":"
        self._pos += 1
        if not self._skip_ws() or self._buf[self._pos] != ord("["):
            return False
        self._rest += b"["
        self._pos += 1
        return True

    def _items(self) -> Iterator[list[msgspec.Raw]]:
        """The item list's elements, a window at a time, up to and past its ``]``."""
        while True:
            if not self._skip_ws():
                raise MalformedAnswer("the answer ended inside its item list")
            if self._buf[self._pos] == ord("]"):
                self._pos += 1
                return
            while len(self._buf) - self._pos < self._window and self._more():
                pass
            window = self._fast_window()
            if window is None:
                window, closed = self._exact_window()
                if window:
                    yield window
                if closed:
                    return
                continue
            yield window

    def _fast_window(self) -> list[msgspec.Raw] | None:
        """The elements up to the last item boundary in the buffer, if msgspec confirms
        it is one (then the buffer moves past it and its comma)."""
        buf, pos = self._buf, self._pos
        cut = len(buf)
        tries = 3  # a cut past the list's end (into the projects) fails: a few, then exact
        while tries:
            cut = buf.rfind(b"}", pos, cut)
            if cut < 0:
                return None
            after = cut + 1
            while after < len(buf) and buf[after] in _WS:
                after += 1
            if after >= len(buf) or buf[after] != ord(","):
                continue
            comma = after
            after += 1
            while after < len(buf) and buf[after] in _WS:
                after += 1
            if after >= len(buf) or buf[after] != ord("{"):
                continue
            tries -= 1
            try:
                window = _RAWS.decode(b"[" + buf[pos : cut + 1] + b"]")
            except msgspec.DecodeError:
                continue  # the "}" was inside a string or a nested value
            self._pos = comma + 1
            return window
        return None

    def _exact_window(self) -> tuple[list[msgspec.Raw], bool]:
        """The complete elements in the buffer, found token by token; True when the item
        list's ``]`` was reached (the buffer then moves past it)."""
        elements: list[bytes] = []
        depth = 0
        start = self._pos
        while True:
            buf = self._buf
            match = _TOKEN.search(buf, self._pos)
            if match is None or match.group() == b'"':
                if elements:
                    break  # hand on what is complete; the rest comes with more data
                self._pos = start
                if not self._more():
                    raise MalformedAnswer("the answer ended inside its item list")
                start = 0
                depth = 0
                continue
            token = match.group()
            self._pos = match.end()
            if token in (b"{", b"["):
                depth += 1
            elif token in (b"}", b"]"):
                if depth == 0:  # the list's own "]"
                    element = bytes(buf[start : match.start()])
                    if element.strip(_WS):
                        elements.append(element)
                    return _decoded(elements), True
                depth -= 1
            elif token == b"," and depth == 0:
                elements.append(bytes(buf[start : match.start()]))
                start = self._pos
        self._pos = start
        return _decoded(elements), False


def _decoded(elements: list[bytes]) -> list[msgspec.Raw]:
    if not elements:
        return []
    try:
        return _RAWS.decode(b"[" + b",".join(elements) + b"]")
    except msgspec.DecodeError as exc:
        raise MalformedAnswer(f"an item that is not JSON ({exc})") from None
