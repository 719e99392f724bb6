"""ASP.NET-style route templates, as the Functions host matches HTTP trigger routes.

Supported: literal segments (case-insensitive), `{param}`, `{param?}`, `{param=default}`,
constraints `{id:int}`, `{n:range(1,10)}`, `{s:regex(^a+$)}`..., complex segments such as
`{name}.{ext}`, and a final catch-all `{*rest}` / `{**rest}`. Templates are tried in
ASP.NET's inbound precedence: literal < complex < constrained < plain parameter < catch-all,
segment by segment."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable
from urllib.parse import unquote


def _is_int(bits: int) -> Callable[[str], bool]:
    limit = 2 ** (bits - 1)

    def check(value: str) -> bool:
        return bool(re.fullmatch(r"[+-]?\d+", value)) and -limit <= int(value) < limit
    return check


def _parses(parse: Callable[[str], object]) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        try:
            parse(value)
        except ValueError:
            return False
        return True
    return check


def _int_args(args: str) -> list[int]:
    return [int(a) for a in args.split(",")]


SIMPLE_CONSTRAINTS: dict[str, Callable[[str], bool]] = {
    "int": _is_int(32), "long": _is_int(64),
    "float": _parses(float), "double": _parses(float), "decimal": _parses(float),
    "bool": lambda v: v.lower() in ("true", "false"),
    "alpha": lambda v: bool(re.fullmatch(r"[A-Za-z]+", v)),
    "guid": _parses(uuid.UUID), "datetime": _parses(datetime.fromisoformat),
}


def _length_between(low: int, high: int) -> Callable[[str], bool]:
    return lambda v: low <= len(v) <= high


def _number_between(low: float, high: float) -> Callable[[str], bool]:
    return lambda v: _is_int(64)(v) and low <= int(v) <= high


def _constraint(text: str) -> Callable[[str], bool]:
    """The check for one constraint such as `int`, `min(3)` or `regex(^\\d+$)`."""
    match = re.fullmatch(r"(\w+)(?:\((.*)\))?", text, re.S)
    if not match:
        raise ValueError(f"bad route constraint {text!r}")
    name, args = match.group(1).lower(), match.group(2)
    if args is None and name in SIMPLE_CONSTRAINTS:
        return SIMPLE_CONSTRAINTS[name]
    if name == "regex" and args is not None:
        pattern = re.compile(args, re.IGNORECASE)
        return lambda v: bool(pattern.search(v))
    bounded = {
        "min": lambda a: _number_between(a[0], float("inf")),
        "max": lambda a: _number_between(float("-inf"), a[0]),
        "range": lambda a: _number_between(a[0], a[1]),
        "minlength": lambda a: _length_between(a[0], 10 ** 9),
        "maxlength": lambda a: _length_between(0, a[0]),
        "length": lambda a: _length_between(a[0], a[-1]),
    }
    if name in bounded and args:
        return bounded[name](_int_args(args))
    raise ValueError(f"unsupported route constraint {text!r}")


@dataclass
class Parameter:
    name: str
    optional: bool = False
    catch_all: bool = False
    default: str | None = None
    checks: list[Callable[[str], bool]] = field(default_factory=list)

    @classmethod
    def parse(cls, token: str) -> "Parameter":
        """`token` is the text between braces, e.g. `*rest`, `id:int?`, `lang=en`."""
        catch_all = token.startswith("*")
        token = token.lstrip("*")
        optional = token.endswith("?")
        token = token.rstrip("?")
        default = None
        if "=" in token:
            token, default = token.split("=", 1)
        name, *constraints = _split_constraints(token)
        if not re.fullmatch(r"\w+", name):
            raise ValueError(f"bad route parameter name {name!r}")
        return cls(name, optional or default is not None, catch_all, default,
                   [_constraint(c) for c in constraints])

    def accepts(self, value: str) -> bool:
        return all(check(value) for check in self.checks)


def _split_constraints(token: str) -> list[str]:
    """`id:int:min(1)` -> ['id', 'int', 'min(1)'], leaving colons inside (...) alone."""
    parts, depth, current = [], 0, ""
    for char in token:
        depth += char == "("
        depth -= char == ")"
        if char == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


@dataclass
class Segment:
    literal: str | None = None               # a plain literal segment
    parameter: Parameter | None = None       # a segment that is exactly one parameter
    pattern: re.Pattern | None = None        # a complex segment, e.g. {name}.{ext}
    parts: list[Parameter] = field(default_factory=list)

    @classmethod
    def parse(cls, text: str) -> "Segment":
        pieces = re.split(r"\{([^{}]*)\}", text)
        if len(pieces) == 1:
            return cls(literal=text)
        if pieces[0] == pieces[2] == "" and len(pieces) == 3:
            return cls(parameter=Parameter.parse(pieces[1]))
        params = [Parameter.parse(token) for token in pieces[1::2]]
        # Greedy groups: like ASP.NET, which matches complex segments from the right.
        regex = "".join(re.escape(lit) + (f"(?P<{p.name}>.+)" if p else "")
                        for lit, p in zip(pieces[::2], params + [None]))
        return cls(pattern=re.compile(regex, re.IGNORECASE), parts=params)

    @property
    def precedence(self) -> int:
        if self.literal is not None:
            return 1
        if self.pattern is not None:
            return 2
        if self.parameter.catch_all:
            return 5
        return 3 if self.parameter.checks else 4

    def match(self, value: str, params: dict[str, str]) -> bool:
        if self.literal is not None:
            return value.casefold() == self.literal.casefold()
        if self.pattern is not None:
            found = self.pattern.fullmatch(value)
            if not found or not all(p.accepts(found[p.name]) for p in self.parts):
                return False
            params.update(found.groupdict())
            return True
        if not self.parameter.accepts(value):
            return False
        params[self.parameter.name] = value
        return True


def _segments(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


class RouteTemplate:
    def __init__(self, template: str):
        self.template = template.strip("/")
        self.segments = [Segment.parse(s) for s in _segments(self.template)]
        for position, segment in enumerate(self.segments):
            if segment.parameter and segment.parameter.catch_all \
                    and position != len(self.segments) - 1:
                raise ValueError(f"catch-all must be the last segment in {template!r}")
        self.precedence = tuple(s.precedence for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values when the URL path matches (values decoded), else None."""
        values = [unquote(v) for v in _segments(path)]
        params: dict[str, str] = {}
        for position, segment in enumerate(self.segments):
            param = segment.parameter
            if param and param.catch_all:
                # A catch-all also matches nothing (it is implicitly optional).
                rest = "/".join(values[position:]) or param.default
                if rest is not None:
                    params[param.name] = rest
                return params
            if position >= len(values):
                if not (param and param.optional):
                    return None
                if param.default is not None:
                    params[param.name] = param.default
                continue
            if not segment.match(values[position], params):
                return None
        return params if len(values) <= len(self.segments) else None
