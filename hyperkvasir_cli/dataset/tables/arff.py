"""WEKA's Attribute-Relation File Format (ARFF), read as a stream.

An ARFF file is a header (``@relation NAME``, one ``@attribute NAME TYPE`` per column,
then ``@data``) followed by one instance per line. Keywords are case-insensitive; names
and values may be quoted with ``'`` or ``"`` (backslash escapes inside); ``%`` starts a
comment; ``?`` is a missing value. Types: ``numeric``, ``integer``, ``real``, ``string``,
``date [FORMAT]`` and nominal ``{a, b, ...}``; ``relational`` attributes are refused.
Instances are dense (``v1,v2,...``, an optional ``{weight}`` after the last value is
ignored) or sparse (``{index value, ...}``: every value not given is 0, for a nominal
attribute its first value).

:func:`open_arff` reads the header and hands back rows one at a time, as the strings of
the file (None for missing), so memory stays flat however long the file. Values are not
converted: the consumer knows which columns it needs. Anything that breaks these rules
raises ArchiveError (exit 6) naming the file and the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TextIO

from hyperkvasir_cli.core.errors import ArchiveError
from hyperkvasir_cli.dataset.tables.text import malformed, open_text, text_lines

AttributeType = Literal["numeric", "integer", "real", "string", "date", "nominal"]
NUMERIC_TYPES: frozenset[str] = frozenset({"numeric", "integer", "real"})
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}
_QUOTES = "'\""
_BLANK = " \t"


@dataclass(frozen=True)
class ArffAttribute:
    name: str
    type: AttributeType
    values: tuple[str, ...] = ()  # a nominal attribute's declared values, in order
    date_format: str | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.type,
            "values": list(self.values) if self.type == "nominal" else None,
        }


@dataclass(frozen=True)
class ArffHeader:
    relation: str
    attributes: tuple[ArffAttribute, ...]

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.attributes]


class _Bad(Exception):
    """A line that breaks the format; turned into ArchiveError with file and line."""


class ArffFile:
    """An open ARFF file whose header is read; :meth:`rows` streams the instances once."""

    def __init__(self, handle: TextIO, source: str, part: str | None = None) -> None:
        self.source = source
        self._part = part
        self._lines = text_lines(handle, source, part)
        self.line = 0  # the line last read, for the errors of consumers too
        self.header = self._read_header()

    def _numbered(self) -> Iterator[str]:
        """The remaining lines' text; :attr:`line` follows along."""
        for self.line, text in self._lines:  # noqa: B020 (the attribute is the point)
            yield text

    def error(self, problem: str, line: int | None = None) -> ArchiveError:
        """An ArchiveError naming this file and ``line`` (default: the line last read)."""
        return malformed(self.source, self.line if line is None else line, problem, self._part)

    def _read_header(self) -> ArffHeader:
        relation: str | None = None
        attributes: list[ArffAttribute] = []
        for text in self._numbered():
            stripped = text.strip()
            if not stripped or stripped.startswith("%"):
                continue
            keyword, *rest_of_line = stripped.split(None, 1)
            keyword = keyword.lower()
            rest = rest_of_line[0] if rest_of_line else ""
            try:
                if keyword == "@relation":
                    relation = _name_and_rest(rest)[0]
                elif keyword == "@attribute":
                    attribute = _attribute(rest)
                    if any(a.name == attribute.name for a in attributes):
                        raise _Bad(f"attribute {attribute.name!r} is declared twice")
                    attributes.append(attribute)
                elif keyword == "@data":
                    break
                else:
                    raise _Bad(f"expected @relation, @attribute or @data, found {stripped[:60]!r}")
            except _Bad as exc:
                raise self.error(str(exc)) from None
        else:
            raise self.error("the header ends without @data")
        if not attributes:
            raise self.error("@data comes before any @attribute")
        return ArffHeader(relation or "", tuple(attributes))

    def rows(self) -> Iterator[list[str | None]]:
        """Each instance as one value per attribute: the file's text, None where missing."""
        width = len(self.header.attributes)
        defaults = [_sparse_default(a) for a in self.header.attributes]
        for text in self._numbered():
            stripped = text.lstrip()
            if not stripped or stripped[0] == "%":
                continue
            try:
                if stripped[0] == "{":
                    yield _sparse_row(stripped, defaults)
                    continue
                values = _dense_values(text)
            except _Bad as exc:
                raise self.error(str(exc)) from None
            if len(values) == width + 1 and (values[-1] or "").startswith("{"):
                values.pop()  # an instance weight: not a value
            if len(values) != width:
                raise self.error(f"expected {width} values, found {len(values)}")
            yield values


@contextmanager
def open_arff(path: Path, part: str | None = None) -> Iterator[ArffFile]:
    """The ARFF file at ``path`` with its header read (ArchiveError when it is not ARFF)."""
    with open_text(path) as handle:
        yield ArffFile(handle, str(path), part)


def _name_and_rest(text: str) -> tuple[str, str]:
    """A name (quoted, or up to a blank or ``{``) and the text after it."""
    text = text.strip()
    if not text:
        raise _Bad("a name is missing")
    if text[0] in _QUOTES:
        name, end = _quoted(text, 0)
        return name, text[end:].strip()
    end = 0
    while end < len(text) and text[end] not in " \t{":
        end += 1
    return text[:end], text[end:].strip()


def _attribute(text: str) -> ArffAttribute:
    name, spec = _name_and_rest(text)
    if spec.startswith("{"):
        if not spec.endswith("}"):
            raise _Bad(f"attribute {name!r}: the nominal values do not end with '}}'")
        values = tuple(v or "" for v in _scan_values(spec[1:-1])) if spec[1:-1].strip() else ()
        return ArffAttribute(name, "nominal", values)
    kind, _, rest = spec.partition(" ")
    kind = kind.lower()
    if kind in NUMERIC_TYPES or kind == "string":
        return ArffAttribute(name, kind)  # type: ignore[arg-type]  # checked just above
    if kind == "date":
        date_format = _name_and_rest(rest)[0] if rest.strip() else None
        return ArffAttribute(name, "date", date_format=date_format)
    if kind == "relational":
        raise _Bad(f"attribute {name!r}: relational attributes are not supported")
    raise _Bad(f"attribute {name!r}: unknown type {spec[:40]!r}")


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The quoted value opening at ``text[start]`` (unescaped) and the index after it."""
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(_ESCAPES.get(text[i + 1], text[i + 1]))
            i += 2
        elif char == quote:
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise _Bad(f"a value quoted with {quote} is not closed")


def _scan_values(text: str) -> list[str | None]:
    """Comma-separated values, quotes honoured, an unquoted ``%`` ending the line."""
    values: list[str | None] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in _BLANK:
            i += 1
        if i < n and text[i] in _QUOTES:
            value, i = _quoted(text, i)
            while i < n and text[i] in _BLANK:
                i += 1
            if i < n and text[i] not in ",%":
                raise _Bad(f"expected ',' after the quoted value {value[:40]!r}")
            values.append(value)
        else:
            end = min((e for e in (text.find(",", i), text.find("%", i)) if e >= 0), default=n)
            raw = text[i:end].strip()
            values.append(None if raw == "?" else raw)
            i = end
        if i >= n or text[i] == "%":
            return values
        i += 1  # past the comma


def _dense_values(text: str) -> list[str | None]:
    """The values of a dense line. Fast for the common shapes: a line without quotes (or
    whose quotes all come before its long numeric tail) is split by ``str.split``."""
    if "%" in text:
        return _scan_values(text)
    last_quote = max(text.rfind("'"), text.rfind('"'))
    if last_quote < 0:
        head, tail = "", text
    else:
        cut = text.find(",", last_quote)
        if cut < 0:
            return _scan_values(text)
        head, tail = text[:cut], text[cut + 1 :]
    values: list[str | None] = list(tail.split(","))
    if " " in tail or "\t" in tail:
        values = [(v or "").strip() for v in values]
    if "?" in tail:
        values = [None if v == "?" else v for v in values]
    return (_scan_values(head) + values) if head else values


def _sparse_default(attribute: ArffAttribute) -> str:
    if attribute.type == "nominal":
        return attribute.values[0] if attribute.values else ""
    return "0" if attribute.is_numeric else ""


def _sparse_row(text: str, defaults: list[str]) -> list[str | None]:
    """``{index value, ...}``: the values given, every other one its default."""
    end = text.rfind("}")
    if end < 0:
        raise _Bad("a sparse instance does not end with '}'")
    values: list[str | None] = list(defaults)
    body = text[1:end].strip()
    if not body:
        return values
    for pair in _sparse_pairs(body):
        index_text, _, value_text = pair.strip().partition(" ")
        if not index_text.isdigit() or int(index_text) >= len(values):
            raise _Bad(
                f"sparse index {index_text!r} is not an attribute's (0 to {len(values) - 1})"
            )
        value_text = value_text.strip()
        if value_text[:1] in _QUOTES and value_text:
            values[int(index_text)] = _quoted(value_text, 0)[0]
        else:
            values[int(index_text)] = None if value_text == "?" else value_text
    return values


def _sparse_pairs(body: str) -> list[str]:
    """Split ``0 'a,b', 3 1.5`` at the commas outside quotes."""
    pairs, start, quote = [], 0, ""
    i = 0
    while i < len(body):
        char = body[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in _QUOTES:
            quote = char
        elif char == ",":
            pairs.append(body[start:i])
            start = i + 1
        i += 1
    if quote:
        raise _Bad(f"a value quoted with {quote} is not closed")
    pairs.append(body[start:])
    return pairs
