"""Route templates, matched as the Functions host matches HTTP trigger routes, for the shapes
`function_app.py` registers: literal segments (case-insensitive), `{param}` segments (also
optional, `{param?}`, and with a `maxlength(n)` constraint: the studio's site-root route is
`{root:maxlength(0)?}`), and a final catch-all `{*rest}` / `{**rest}`. Templates are tried in
ASP.NET's inbound precedence: literal < parameter < catch-all, segment by segment. Anything
else (other constraints, default values, complex segments) is refused when the app is loaded."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

LITERAL, PARAMETER, CATCH_ALL = 1, 2, 3      # the precedence of each kind of segment


@dataclass(frozen=True)
class Segment:
    kind: int
    text: str                       # the literal, or the parameter's name
    optional: bool = False
    max_length: int | None = None

    @classmethod
    def parse(cls, text: str) -> "Segment":
        if "{" not in text and "}" not in text:
            return cls(LITERAL, text)
        found = re.fullmatch(r"\{(\*{0,2})(\w+)(?::maxlength\((\d+)\))?(\?)?\}", text)
        if not found:
            raise ValueError(f"unsupported route segment {text!r}: the local host serves "
                             "literal, {param}, {param:maxlength(n)?} and {*catchall} segments")
        return cls(CATCH_ALL if found[1] else PARAMETER, found[2], bool(found[4]),
                   int(found[3]) if found[3] else None)

    def accepts(self, value: str) -> bool:
        return self.max_length is None or len(value) <= self.max_length


def _segments(path: str) -> list[str]:
    path = path.strip("/")
    return path.split("/") if path else []


class RouteTemplate:
    def __init__(self, template: str):
        self.template = template.strip("/")
        self.segments = [Segment.parse(s) for s in _segments(self.template)]
        if any(s.kind == CATCH_ALL for s in self.segments[:-1]):
            raise ValueError(f"catch-all must be the last segment in {template!r}")
        self.precedence = tuple(s.kind for s in self.segments)

    def match(self, path: str) -> dict[str, str] | None:
        """Route values when the URL path matches (values decoded), else None."""
        values = [unquote(v) for v in _segments(path)]
        params: dict[str, str] = {}
        for position, segment in enumerate(self.segments):
            if segment.kind == CATCH_ALL:
                # A catch-all also matches nothing (it is implicitly optional).
                if values[position:]:
                    params[segment.text] = "/".join(values[position:])
                return params
            if position >= len(values):
                return params if all(s.optional for s in self.segments[position:]) else None
            if segment.kind == LITERAL:
                if values[position].casefold() != segment.text.casefold():
                    return None
            elif segment.accepts(values[position]):
                params[segment.text] = values[position]
            else:
                return None
        return params if len(values) <= len(self.segments) else None
