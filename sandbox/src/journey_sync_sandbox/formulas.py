"""The formula subset journey-sync's footer uses, with Google Sheets semantics.

Supported: numbers, ``"text"`` (``""`` escapes a quote), TRUE/FALSE, A1 references
with or without ``$`` (``K7``, ``$K$7``, ``K$2:K$19``, ``K:K``; same sheet only),
``+ - * / ^ &``, unary minus, postfix ``%``, comparisons ``= <> < > <= >=`` and the
functions COUNTIFS, COUNTIF, COUNTA, COUNT, SUM, SUMPRODUCT, IF, IFERROR, ROUND, AND,
OR, NOT, LEN. Inside SUMPRODUCT, operators work element by element over ranges of one
size, as Sheets evaluates its arguments as arrays.

Values are ``float`` (every number), ``str``, ``bool``, ``None`` (an empty cell) or
``FormulaError`` (``#DIV/0!`` and friends). Sheets rules kept here on purpose:

* comparisons order numbers < text < booleans, compare text case-insensitively,
  and treat an empty cell as 0, "" or FALSE depending on the other side;
* COUNTIF(S) criteria: a number matches numbers only (text "1" is not the number 1),
  ``"<>"`` matches non-empty cells, ``""`` empty ones, ``"<>1"`` everything but the
  number 1 (blanks included), ``">=3"`` numbers only, text is case-insensitive with
  ``*``/``?`` wildcards;
* ROUND rounds half away from zero on the decimal digits people see (2.675 -> 2.68);
* division by zero is the error value ``#DIV/0!``, which IFERROR catches.

``shift_formula`` / ``shift_formula_for_delete`` rewrite references when rows (or
columns) are inserted or deleted, as Sheets does for ``insertDimension`` /
``deleteDimension``: references at or after the insertion move, a range that spans
the insertion point grows, and a reference into deleted rows becomes ``#REF!``.
"""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal, Protocol, TypeGuard, cast

from journey_sync.sheet import column_letter

from .a1 import column_index

Dimension = Literal["ROWS", "COLUMNS"]


@dataclass(frozen=True)
class FormulaError:
    """A spreadsheet error value such as ``#DIV/0!``; rendered as its code."""

    code: str

    def __str__(self) -> str:
        return self.code


DIV0 = FormulaError("#DIV/0!")
VALUE = FormulaError("#VALUE!")
REF = FormulaError("#REF!")
NAME = FormulaError("#NAME?")
NUM = FormulaError("#NUM!")
PARSE = FormulaError("#ERROR!")  # what Sheets shows for a formula it cannot parse
NA = FormulaError("#N/A")

Scalar = float | str | bool | FormulaError | None
Area = list[list[Scalar]]
Value = Scalar | tuple[Area]  # a range travels wrapped, so it is never mistaken for a scalar


class Grid(Protocol):
    """What a formula can see: evaluated cells of its own sheet (0-based).

    A grid may also offer ``area(top, bottom, left, right) -> Area`` (a closed block,
    inclusive) to cache ranges, since a footer asks for the same lead columns dozens
    of times, and a ``criteria_cache`` dict for COUNTIFS; both are optional.
    """

    def value(self, row: int, col: int) -> Scalar: ...

    def size(self) -> tuple[int, int]:
        """(row count, column count) of the sheet, for open ranges like ``K:K``."""
        ...


class BaseGrid:
    """``area`` built from ``value``, for grids that need nothing faster."""

    def value(self, row: int, col: int) -> Scalar:
        raise NotImplementedError

    def area(self, top: int, bottom: int, left: int, right: int) -> Area:
        return [[self.value(r, c) for c in range(left, right + 1)] for r in range(top, bottom + 1)]


# ------------------------------------------------------------------ tokens

_CELL = r"\$?[A-Za-z]{1,3}\$?[0-9]+"
_COL = r"\$?[A-Za-z]{1,3}"
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<error>\#(?:REF!|DIV/0!|N/A|VALUE!|NAME\?|NUM!|NULL!|ERROR!))
  | (?P<ref>(?:"""
    + _CELL
    + r"(?::(?:"
    + _CELL
    + "|"
    + _COL
    + r"))?|"
    + _COL
    + ":(?:"
    + _CELL
    + "|"
    + _COL
    + r"""))(?![A-Za-z0-9_(.!]))
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><>|<=|>=|[-+*/^&=<>%])
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Every character belongs to some token, so rewriting by span is lossless."""
    out: list[Token] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup or "other"
        out.append(Token(kind, match.group(), match.start(), match.end()))
    return out


# -------------------------------------------------------------- references


@dataclass(frozen=True)
class RefPart:
    """One end of a reference; ``None`` row or column means "the whole column/row"."""

    col: int | None
    row: int | None
    col_abs: bool = False
    row_abs: bool = False

    def text(self) -> str:
        out = ""
        if self.col is not None:
            out += ("$" if self.col_abs else "") + column_letter(self.col + 1)
        if self.row is not None:
            out += ("$" if self.row_abs else "") + str(self.row + 1)
        return out


_PART = re.compile(r"^(\$?)([A-Za-z]{1,3})?(\$?)([0-9]+)?$")


def _parse_part(text: str) -> RefPart:
    match = _PART.match(text)
    if not match:
        raise ValueError(text)
    col_abs, col, row_abs, row = match.groups()
    return RefPart(
        col=None if col is None else column_index(col),
        row=None if row is None else int(row) - 1,
        col_abs=bool(col_abs) and col is not None,
        row_abs=bool(row_abs) and row is not None,
    )


def parse_ref(text: str) -> tuple[RefPart, RefPart | None]:
    first, _, second = text.partition(":")
    return _parse_part(first), (_parse_part(second) if second else None)


# ------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Boolean:
    value: bool


@dataclass(frozen=True)
class ErrorLiteral:
    error: FormulaError


@dataclass(frozen=True)
class Ref:
    first: RefPart
    last: RefPart | None  # a range when set


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Num | Text | Boolean | ErrorLiteral | Ref | Unary | Binary | Call


class _ParseError(Exception):
    pass


_COMPARISONS = ("=", "<>", "<", ">", "<=", ">=")


class _Parser:
    def __init__(self, tokens: Sequence[Token]) -> None:
        self.tokens = [t for t in tokens if t.kind != "ws"]
        self.pos = 0

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise _ParseError("unexpected end")
        self.pos += 1
        return token

    def at_op(self, *ops: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text in ops

    def parse(self) -> Node:
        node = self.comparison()
        if self.peek() is not None:
            raise _ParseError(f"unexpected {self.peek()}")
        return node

    def comparison(self) -> Node:
        node = self.concat()
        while self.at_op(*_COMPARISONS):
            op = self.take().text
            node = Binary(op, node, self.concat())
        return node

    def concat(self) -> Node:
        node = self.additive()
        while self.at_op("&"):
            self.take()
            node = Binary("&", node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.term()
        while self.at_op("+", "-"):
            op = self.take().text
            node = Binary(op, node, self.term())
        return node

    def term(self) -> Node:
        node = self.power()
        while self.at_op("*", "/"):
            op = self.take().text
            node = Binary(op, node, self.power())
        return node

    def power(self) -> Node:
        node = self.unary()
        while self.at_op("^"):
            self.take()
            node = Binary("^", node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at_op("-", "+"):
            op = self.take().text
            return Unary(op, self.unary())
        node = self.primary()
        while self.at_op("%"):
            self.take()
            node = Unary("%", node)
        return node

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            return Num(float(token.text))
        if token.kind == "string":
            return Text(token.text[1:-1].replace('""', '"'))
        if token.kind == "error":
            return ErrorLiteral(FormulaError(token.text))
        if token.kind == "ref":
            first, last = parse_ref(token.text)
            if last is None and (first.row is None or first.col is None):
                raise _ParseError(token.text)
            return Ref(first, last)
        if token.kind == "lparen":
            node = self.comparison()
            if self.take().kind != "rparen":
                raise _ParseError("missing )")
            return node
        if token.kind == "name":
            upper = token.text.upper()
            following = self.peek()
            if following is not None and following.kind == "lparen":
                self.take()
                return Call(upper, self.arguments())
            if upper in ("TRUE", "FALSE"):
                return Boolean(upper == "TRUE")
            return ErrorLiteral(NAME)  # an unknown name is #NAME?, not a parse error
        raise _ParseError(f"unexpected {token.text!r}")

    def arguments(self) -> tuple[Node, ...]:
        args: list[Node] = []
        following = self.peek()
        if following is not None and following.kind == "rparen":
            self.take()
            return ()
        while True:
            args.append(self.comparison())
            token = self.take()
            if token.kind == "rparen":
                return tuple(args)
            if token.kind != "comma":
                raise _ParseError(f"unexpected {token.text!r}")


@lru_cache(maxsize=4096)
def parse(formula: str) -> Node | None:
    """The AST of ``=...``, or ``None`` when Sheets would show ``#ERROR!``."""
    body = formula[1:] if formula.startswith("=") else formula
    try:
        return _Parser(tokenize(body)).parse()
    except (_ParseError, ValueError):
        return None


# -------------------------------------------------------------- coercion


def is_number(value: object) -> TypeGuard[float | int]:
    return isinstance(value, float | int) and not isinstance(value, bool)


def format_general(number: float) -> str:
    """A number as Sheets' automatic format shows it: 42, 1.45, 0.0009765625."""
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
        return str(int(number))
    if abs(number) >= 1e15 or (number != 0 and abs(number) < 1e-10):
        mantissa, exponent = f"{number:.9E}".split("E")
        mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"
    return f"{number:.10f}".rstrip("0").rstrip(".")


def _parse_number(text: str) -> float | None:
    try:
        return float(text.strip()) if text.strip() else None
    except ValueError:
        return None


def to_number(value: Scalar) -> float | FormulaError:
    if isinstance(value, FormulaError):
        return value
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, str):
        number = _parse_number(value)
        return VALUE if number is None else number
    return float(value)


def to_text(value: Scalar) -> str | FormulaError:
    if isinstance(value, FormulaError):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return value
    return format_general(float(value))


def to_bool(value: Scalar) -> bool | FormulaError:
    if isinstance(value, FormulaError):
        return value
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in ("TRUE", "FALSE"):
            return upper == "TRUE"
        return VALUE
    return float(value) != 0


def _rank(value: float | str | bool) -> int:
    if isinstance(value, bool):
        return 2
    if isinstance(value, str):
        return 1
    return 0


def compare(left: Scalar, right: Scalar) -> int | FormulaError:
    """-1, 0 or 1 in Sheets order (numbers < text < booleans), or an error."""
    if isinstance(left, FormulaError):
        return left
    if isinstance(right, FormulaError):
        return right
    if left is None and right is None:
        return 0
    if left is None:
        left = _blank_like(right)
    if right is None:
        right = _blank_like(left)
    assert left is not None and right is not None
    a_rank, b_rank = _rank(left), _rank(right)
    if a_rank != b_rank:
        return -1 if a_rank < b_rank else 1
    if isinstance(left, str) and isinstance(right, str):
        a, b = left.casefold(), right.casefold()
        return (a > b) - (a < b)
    x, y = float(left), float(right)
    return (x > y) - (x < y)


def _blank_like(other: Scalar) -> float | str | bool:
    if isinstance(other, bool):
        return False
    if isinstance(other, str):
        return ""
    return 0.0


# --------------------------------------------------------------- criteria

_CRITERION = re.compile(r"^(<>|<=|>=|=|<|>)?(.*)$", re.DOTALL)


def _is_empty(value: Scalar) -> bool:
    return value is None or value == ""


def criterion(crit: Scalar) -> Callable[[Scalar], bool]:
    """A COUNTIF(S) criterion as a predicate over cell values."""
    if isinstance(crit, FormulaError):
        return lambda v: v == crit
    if isinstance(crit, bool):
        return lambda v: isinstance(v, bool) and v == crit
    if is_number(crit):
        number = float(crit)
        return lambda v: is_number(v) and float(v) == number
    text = "" if crit is None else str(crit)
    match = _CRITERION.match(text)
    assert match is not None
    op, rest = match.group(1) or "=", match.group(2)
    if rest == "":
        if op == "=":
            return _is_empty
        if op == "<>":
            return lambda v: not _is_empty(v)
        return lambda v: False
    parsed = _parse_number(rest)
    if parsed is not None:
        return _numeric_criterion(op, parsed)
    if rest.upper() in ("TRUE", "FALSE"):
        return _bool_criterion(op, rest.upper() == "TRUE")
    return _text_criterion(op, rest)


def _bool_criterion(op: str, flag: bool) -> Callable[[Scalar], bool]:
    def same(v: Scalar) -> bool:
        return isinstance(v, bool) and v == flag

    if op == "=":
        return same
    if op == "<>":
        return lambda v: not same(v)
    return lambda v: False


def _numeric_criterion(op: str, number: float) -> Callable[[Scalar], bool]:
    def numeric(v: Scalar) -> float | None:
        return float(v) if is_number(v) else None

    if op == "=":
        return lambda v: numeric(v) == number
    if op == "<>":
        return lambda v: numeric(v) != number
    tests: dict[str, Callable[[float], bool]] = {
        "<": lambda x: x < number,
        ">": lambda x: x > number,
        "<=": lambda x: x <= number,
        ">=": lambda x: x >= number,
    }
    test = tests[op]
    return lambda v: (n := numeric(v)) is not None and test(n)


def _text_criterion(op: str, text: str) -> Callable[[Scalar], bool]:
    pattern = text.casefold()
    wild = any(c in pattern for c in "*?")

    def equal(v: Scalar) -> bool:
        if not isinstance(v, str) or isinstance(v, bool):
            return False
        folded = v.casefold()
        return fnmatch.fnmatchcase(folded, pattern) if wild else folded == pattern

    if op == "=":
        return equal
    if op == "<>":
        return lambda v: not equal(v)
    tests: dict[str, Callable[[str], bool]] = {
        "<": lambda s: s < pattern,
        ">": lambda s: s > pattern,
        "<=": lambda s: s <= pattern,
        ">=": lambda s: s >= pattern,
    }
    test = tests[op]
    return lambda v: isinstance(v, str) and test(v.casefold())


# ------------------------------------------------------------- evaluation


class _Evaluator:
    def __init__(self, grid: Grid, offset: tuple[int, int]) -> None:
        self.grid = grid
        self.drow, self.dcol = offset
        # A grid may offer a dict to keep criteria results between formulas: a footer
        # asks "is this a lead?" of the same columns dozens of times.
        self.masks: dict[Any, tuple[Area, int]] | None = getattr(grid, "criteria_cache", None)

    def scalar(self, node: Node) -> Scalar:
        value = self.eval(node)
        if isinstance(value, tuple):
            area = value[0]
            return area[0][0] if area and area[0] else None
        return value

    def eval(self, node: Node) -> Value:
        if isinstance(node, Num):
            return node.value
        if isinstance(node, Text):
            return node.value
        if isinstance(node, Boolean):
            return node.value
        if isinstance(node, ErrorLiteral):
            return node.error
        if isinstance(node, Ref):
            return self.ref(node)
        if isinstance(node, Unary):
            return self.unary(node)
        if isinstance(node, Binary):
            return self.binary(node)
        return self.call(node)

    def _row(self, part: RefPart) -> int | None:
        if part.row is None:
            return None
        return part.row if part.row_abs else part.row + self.drow

    def _col(self, part: RefPart) -> int | None:
        if part.col is None:
            return None
        return part.col if part.col_abs else part.col + self.dcol

    def ref(self, node: Ref) -> Value:
        rows, cols = self.grid.size()
        if node.last is None:
            row, col = self._row(node.first), self._col(node.first)
            if row is None or col is None or row < 0 or col < 0:
                return REF
            return self.grid.value(row, col)
        top, bottom = _span(self._row(node.first), self._row(node.last), rows)
        left, right = _span(self._col(node.first), self._col(node.last), cols)
        if top < 0 or left < 0:
            return REF
        area: Callable[[int, int, int, int], Area] | None = getattr(self.grid, "area", None)
        if area is not None:
            return (area(top, bottom, left, right),)
        rows_ = range(top, bottom + 1)
        return ([[self.grid.value(r, c) for c in range(left, right + 1)] for r in rows_],)

    def unary(self, node: Unary) -> Scalar:
        return _unary(node.op, self.scalar(node.operand))

    def binary(self, node: Binary) -> Scalar:
        return _binary(node.op, self.scalar(node.left), self.scalar(node.right))

    # ------------------------------------------------------- array mode

    def array(self, node: Node) -> list[Scalar] | Scalar:
        """``node`` element by element (a flat list for a range), as SUMPRODUCT sees it.

        Results of operator subtrees are kept in the grid's cache when it has one: a
        footer asks "is this row reached?" of the same column in many formulas.
        """
        if isinstance(node, Ref):
            value = self.ref(node)
            return _flatten(value) if isinstance(value, tuple) else value
        if not isinstance(node, Unary | Binary):
            return self.scalar(node)
        # The grid's cache lives for one read of the sheet, like its criteria masks.
        cache = cast("dict[Any, Any] | None", self.masks)
        if cache is None:
            return self._array_op(node)
        key = ("array", node, self.drow, self.dcol)
        if key not in cache:
            cache[key] = self._array_op(node)
        result: list[Scalar] | Scalar = cache[key]
        return result

    def _array_op(self, node: Unary | Binary) -> list[Scalar] | Scalar:
        if isinstance(node, Unary):
            operand = self.array(node.operand)
            if isinstance(operand, list):
                return [_unary(node.op, v) for v in operand]
            return _unary(node.op, operand)
        op, left, right = node.op, self.array(node.left), self.array(node.right)
        if isinstance(left, list) and isinstance(right, list) and len(left) != len(right):
            return VALUE
        fast = _fast_binary(op, left, right)
        if fast is not None:
            return fast
        if isinstance(left, list) and isinstance(right, list):
            return [_binary(op, a, b) for a, b in zip(left, right, strict=True)]
        if isinstance(left, list):
            scalar_right: Scalar = right  # type: ignore[assignment]
            return [_binary(op, a, scalar_right) for a in left]
        if isinstance(right, list):
            return [_binary(op, left, b) for b in right]
        return _binary(op, left, right)

    def sumproduct(self, args: tuple[Node, ...]) -> Scalar:
        """Sum of the element-wise products; every argument must have the same size.

        Elements that are not numbers (text, blanks, booleans) count as 0, as documented
        for SUMPRODUCT; journey-sync's formulas turn comparisons into numbers themselves
        (``(x=1)*(y<>"")``), which every spreadsheet reads alike.
        """
        if not args:
            return NA
        arrays: list[list[Scalar]] = []
        for arg in args:
            value = self.array(arg)
            arrays.append(value if isinstance(value, list) else [value])
        size = len(arrays[0])
        if any(len(a) != size for a in arrays):
            return VALUE
        if len(arrays) == 1:
            kinds = set(map(type, arrays[0]))
            if FormulaError not in kinds:
                # One array (the footer's products): its numbers summed, the rest is 0.
                return _finite(float(sum(v for v in arrays[0] if is_number(v))))
        total = 0.0
        for items in zip(*arrays, strict=True):
            product = 1.0
            for item in items:
                if isinstance(item, FormulaError):
                    return item
                product *= float(item) if is_number(item) else 0.0
            total += product
        return _finite(total)

    # ---------------------------------------------------------- functions

    def call(self, node: Call) -> Value:
        name, args = node.name, node.args
        if name == "IF":
            if not 2 <= len(args) <= 3:
                return NA
            condition = to_bool(self.scalar(args[0]))
            if isinstance(condition, FormulaError):
                return condition
            if condition:
                return self.scalar(args[1])
            return self.scalar(args[2]) if len(args) == 3 else False
        if name == "IFERROR":
            if not 1 <= len(args) <= 2:
                return NA
            value = self.scalar(args[0])
            if isinstance(value, FormulaError):
                return self.scalar(args[1]) if len(args) == 2 else None
            return value
        if name == "SUMPRODUCT":
            return self.sumproduct(args)
        values = [self.eval(a) for a in args]
        if name == "COUNTIFS" or (name == "COUNTIF" and len(values) == 2):
            return self.countifs(values)
        handler = _FUNCTIONS.get(name)
        if handler is None:
            return NAME
        return handler(values)

    def countifs(self, values: list[Value]) -> Scalar:
        """COUNTIFS as bit masks: one per (range, criterion), AND-ed and counted."""
        if not values or len(values) % 2:
            return NA
        combined: int | None = None
        size: int | None = None
        for index in range(0, len(values), 2):
            mask, length = self.mask(values[index], _top_left(values[index + 1]))
            if size is not None and length != size:
                return VALUE  # "Array arguments to COUNTIFS are of different size"
            size = length
            combined = mask if combined is None else combined & mask
        return float((combined or 0).bit_count())

    def mask(self, value: Value, crit: Scalar) -> tuple[int, int]:
        key = None
        if isinstance(value, tuple) and self.masks is not None:
            key = (id(value[0]), type(crit).__name__, crit)
            cached = self.masks.get(key)
            if cached is not None and cached[0] is value[0]:
                return cached[1], _area_size(value[0])
        flat = _flatten(value)
        test = criterion(crit)
        bits = "".join("1" if test(v) else "0" for v in reversed(flat))
        mask = int(bits, 2) if bits else 0
        if key is not None and self.masks is not None and isinstance(value, tuple):
            self.masks[key] = (value[0], mask)  # the area is kept alive with its id
        return mask, len(flat)


def _binary(op: str, left: Scalar, right: Scalar) -> Scalar:
    """A binary operator on two scalars, with Sheets' coercions."""
    if op == "&":
        a, b = to_text(left), to_text(right)
        if isinstance(a, FormulaError):
            return a
        if isinstance(b, FormulaError):
            return b
        return a + b
    if op in _COMPARISONS:
        order = compare(left, right)
        if isinstance(order, FormulaError):
            return order
        return {
            "=": order == 0,
            "<>": order != 0,
            "<": order < 0,
            ">": order > 0,
            "<=": order <= 0,
            ">=": order >= 0,
        }[op]
    x, y = to_number(left), to_number(right)
    if isinstance(x, FormulaError):
        return x
    if isinstance(y, FormulaError):
        return y
    if op == "+":
        return _finite(x + y)
    if op == "-":
        return _finite(x - y)
    if op == "*":
        return _finite(x * y)
    if op == "/":
        return DIV0 if y == 0 else _finite(x / y)
    try:
        return _finite(math.pow(x, y))
    except (OverflowError, ValueError):
        return NUM


_NUMBERS = frozenset({int, float})
_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}


def _fast_binary(
    op: str, left: list[Scalar] | Scalar, right: list[Scalar] | Scalar
) -> list[Scalar] | None:
    """Element-wise ``op`` without per-element coercion, for the cases where Python's own
    operators give exactly ``_binary``'s answer (a 10,000-row SUMPRODUCT is a million
    operations); ``None`` when the general path must decide."""
    if not isinstance(left, list) and not isinstance(right, list):
        return None
    size = len(left) if isinstance(left, list) else len(right)  # type: ignore[arg-type]
    lefts = left if isinstance(left, list) else [left] * size
    rights = right if isinstance(right, list) else [right] * size
    left_types, right_types = set(map(type, lefts)), set(map(type, rights))
    if FormulaError in left_types or FormulaError in right_types:
        return None
    plain = _NUMBERS | {bool}
    if op in _ARITHMETIC and left_types <= plain and right_types <= plain:
        function = _ARITHMETIC[op]
        return [function(a, b) for a, b in zip(lefts, rights, strict=True)]
    if op in _ORDER and (
        (left_types <= _NUMBERS and right_types <= _NUMBERS)
        or (left_types <= {bool} and right_types <= {bool})
    ):
        order = _ORDER[op]
        return [order(a, b) for a, b in zip(lefts, rights, strict=True)]
    if op in ("=", "<>") and not isinstance(right, list) and isinstance(left, list):
        equal: list[bool] | None = None
        if right == "" and isinstance(right, str):
            # Only a blank or "" equals "" (numbers and booleans rank apart from text).
            equal = [a is None or (type(a) is str and a == "") for a in left]
        elif type(right) in _NUMBERS and right != 0:
            # A blank is 0 here, text and booleans never equal a number.
            equal = [type(a) in _NUMBERS and a == right for a in left]
        elif right is True:
            equal = [a is True for a in left]
        if equal is not None:
            return list(equal) if op == "=" else [not e for e in equal]
    return None


def _unary(op: str, operand: Scalar) -> Scalar:
    value = to_number(operand)
    if isinstance(value, FormulaError):
        return value
    if op == "-":
        return -value
    if op == "%":
        return value / 100
    return value


def _span(a: int | None, b: int | None, size: int) -> tuple[int, int]:
    """Both ends of one axis of a range; an open end (``K2:K``, ``K:K``) runs to the edge."""
    if a is None and b is None:
        return 0, size - 1
    if a is None or b is None:
        known = a if a is not None else b
        assert known is not None
        return known, size - 1
    return min(a, b), min(max(a, b), size - 1)


def _area_size(area: Area) -> int:
    # Areas are rectangles (every row as wide as the range): O(1), not a walk of 10,000
    # rows each time a cached COUNTIFS mask is reused.
    return len(area) * len(area[0]) if area else 0


def _finite(number: float) -> float | FormulaError:
    return number if math.isfinite(number) else NUM


def _flatten(value: Value) -> list[Scalar]:
    if isinstance(value, tuple):
        return [v for row in value[0] for v in row]
    return [value]


def _top_left(value: Value) -> Scalar:
    if isinstance(value, tuple):
        area = value[0]
        return area[0][0] if area and area[0] else None
    return value


def _counta(values: list[Value]) -> Scalar:
    if not values:
        return NA
    return float(sum(1 for v in values for x in _flatten(v) if x is not None))


def _count(values: list[Value]) -> Scalar:
    return float(sum(1 for v in values for x in _flatten(v) if is_number(x)))


def _sum(values: list[Value]) -> Scalar:
    total = 0.0
    for value in values:
        if isinstance(value, tuple):
            for item in _flatten(value):
                if isinstance(item, FormulaError):
                    return item
                if is_number(item):
                    total += float(item)
            continue
        number = to_number(value)
        if isinstance(number, FormulaError):
            return number
        total += number
    return _finite(total)


def _round(values: list[Value]) -> Scalar:
    if not 1 <= len(values) <= 2:
        return NA
    number = to_number(_top_left(values[0]))
    digits = to_number(_top_left(values[1])) if len(values) == 2 else 0.0
    if isinstance(number, FormulaError):
        return number
    if isinstance(digits, FormulaError):
        return digits
    try:
        exact = Decimal(repr(number))
        step = Decimal(1).scaleb(-int(digits))
        return float(exact.quantize(step, rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return NUM


def _logical(values: list[Value], combine: Callable[[list[bool]], bool]) -> Scalar:
    flags: list[bool] = []
    for value in values:
        if isinstance(value, tuple):
            for item in _flatten(value):
                if isinstance(item, FormulaError):
                    return item
                if isinstance(item, bool):
                    flags.append(item)
                elif is_number(item):
                    flags.append(float(item) != 0)
            continue
        flag = to_bool(value)
        if isinstance(flag, FormulaError):
            return flag
        flags.append(flag)
    if not flags:
        return VALUE
    return combine(flags)


def _not(values: list[Value]) -> Scalar:
    if len(values) != 1:
        return NA
    flag = to_bool(_top_left(values[0]))
    return flag if isinstance(flag, FormulaError) else not flag


def _len(values: list[Value]) -> Scalar:
    if len(values) != 1:
        return NA
    text = to_text(_top_left(values[0]))
    return text if isinstance(text, FormulaError) else float(len(text))


_FUNCTIONS: dict[str, Callable[[list[Value]], Scalar]] = {
    "COUNTIF": lambda values: NA,  # reached only with the wrong number of arguments
    "COUNTA": _counta,
    "COUNT": _count,
    "SUM": _sum,
    "ROUND": _round,
    "AND": lambda v: _logical(v, all),
    "OR": lambda v: _logical(v, any),
    "NOT": _not,
    "LEN": _len,
}


def evaluate(formula: str, grid: Grid, *, offset: tuple[int, int] = (0, 0)) -> Scalar:
    """Evaluate ``=...`` against ``grid``.

    ``offset`` (rows, columns) moves the relative parts of every reference, which is
    how a conditional-format formula written for its range's first row is applied to
    the other rows.
    """
    node = parse(formula)
    if node is None:
        return PARSE
    return _Evaluator(grid, offset).scalar(node)


# ------------------------------------------------------------------ shifting


def _adjust_insert(coord: int | None, at: int, count: int) -> int | None:
    return coord + count if coord is not None and coord >= at else coord


def _axis(part: RefPart, dimension: Dimension) -> int | None:
    return part.row if dimension == "ROWS" else part.col


def _with_axis(part: RefPart, dimension: Dimension, value: int | None) -> RefPart:
    if dimension == "ROWS":
        return RefPart(part.col, value, part.col_abs, part.row_abs)
    return RefPart(value, part.row, part.col_abs, part.row_abs)


def _rewrite(formula: str, change: Callable[[str], str]) -> str:
    return "".join(change(t.text) if t.kind == "ref" else t.text for t in tokenize(formula))


def shift_formula(
    formula: str, inserted_at_row: int, count: int, *, dimension: Dimension = "ROWS"
) -> str:
    """References after inserting ``count`` rows that start at 1-based ``inserted_at_row``.

    With ``dimension="COLUMNS"`` the number is a 1-based column (A = 1).
    """
    at = inserted_at_row - 1

    def change(text: str) -> str:
        first, last = parse_ref(text)
        moved = [
            _with_axis(p, dimension, _adjust_insert(_axis(p, dimension), at, count))
            for p in (first, last)
            if p is not None
        ]
        return ":".join(p.text() for p in moved)

    return _rewrite(formula, change)


def shift_formula_for_delete(
    formula: str, first_deleted_row: int, count: int, *, dimension: Dimension = "ROWS"
) -> str:
    """References after deleting ``count`` rows from 1-based ``first_deleted_row``.

    A reference into the deleted rows becomes ``#REF!``; a range loses the deleted
    rows and becomes ``#REF!`` only when all of it was deleted.
    """
    start, end = first_deleted_row - 1, first_deleted_row - 1 + count  # [start, end)

    def change(text: str) -> str:
        first, last = parse_ref(text)
        a = _axis(first, dimension)
        if last is None:
            if a is None or a < start:
                return text
            if a < end:
                return REF.code
            return _with_axis(first, dimension, a - count).text()
        b = _axis(last, dimension)
        if a is None or b is None:
            moved = [
                _with_axis(p, dimension, _deleted_end(_axis(p, dimension), start, end, count))
                for p in (first, last)
            ]
            return ":".join(p.text() for p in moved)
        low, high = min(a, b), max(a, b)
        new_low = low if low < start else (start if low < end else low - count)
        new_high = high if high < start else (start - 1 if high < end else high - count)
        if new_high < new_low:
            return REF.code
        lo_part, hi_part = (first, last) if a <= b else (last, first)
        return (
            _with_axis(lo_part, dimension, new_low).text()
            + ":"
            + _with_axis(hi_part, dimension, new_high).text()
        )

    return _rewrite(formula, change)


def _deleted_end(coord: int | None, start: int, end: int, count: int) -> int | None:
    if coord is None or coord < start:
        return coord
    return start if coord < end else coord - count
