"""Linear-time matching of the patterns that text attributes carry.

Administrators write the patterns and anyone who can set an attribute (a widget visitor included)
writes the values, so a pattern with catastrophic backtracking such as `^(a+)+$` must not let a
value pin a CPU. Patterns are parsed by Python's own parser (private but stable since 3.11) and run
as a Thompson NFA: time grows with the value's length times the pattern's size, never
exponentially. Backreferences, lookarounds, atomic groups and conditionals need backtracking and are
refused. Search semantics, as JavaScript's `RegExp.test` that a dashboard would use: anchor with ^…$
to match the whole value."""

from __future__ import annotations

import re

# Python's own regex parser: private (so typeshed has no stubs for it), stable since 3.11.
import re._constants as _C  # type: ignore[import-not-found]
import re._parser as _P  # type: ignore[import-not-found]
from collections.abc import Callable
from typing import Any

MAX_PATTERN_STATES = 128
# Characters × states one validate_custom_attributes call may spend on patterns (about 0.1 s at worst).
PATTERN_BUDGET = 200_000


class PatternError(ValueError):
    """A pattern that is invalid or uses a feature the linear-time matcher does not support."""


_CHAR, _SPLIT, _ASSERT, _MATCH = range(4)


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


_CATEGORIES: dict[Any, Callable[[str], bool]] = {
    _C.CATEGORY_DIGIT: str.isdecimal,
    _C.CATEGORY_NOT_DIGIT: lambda c: not c.isdecimal(),
    _C.CATEGORY_SPACE: str.isspace,
    _C.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    _C.CATEGORY_WORD: _is_word,
    _C.CATEGORY_NOT_WORD: lambda c: not _is_word(c),
}


class Pattern:
    """A compiled pattern: `search(text)` says whether it matches anywhere in the text."""

    def __init__(self, source: str) -> None:
        try:
            re.compile(source)
            parsed = _P.parse(source, 0)
        except re.error as exc:
            raise PatternError(f"Not a valid regular expression: {exc.msg}.") from None
        except (OverflowError, RecursionError):
            raise PatternError("The pattern is too complex.") from None
        self.kinds: list[int] = []
        self.args: list[Any] = []
        self.out1: list[int] = []
        self.out2: list[int] = []
        match = self._new(_MATCH, None, -1, -1)
        self.start = self._seq(parsed, parsed.state.flags, match)

    # construction, from the end of the pattern backwards: each piece knows the state after it
    def _new(self, kind: int, arg: Any, out1: int, out2: int) -> int:
        if len(self.kinds) >= MAX_PATTERN_STATES:
            raise PatternError("The pattern is too complex; simplify it (fewer or smaller repetitions).")
        self.kinds.append(kind)
        self.args.append(arg)
        self.out1.append(out1)
        self.out2.append(out2)
        return len(self.kinds) - 1

    def _seq(self, items: Any, flags: int, nxt: int) -> int:
        for op, av in reversed(list(items)):
            nxt = self._item(op, av, flags, nxt)
        return nxt

    def _item(self, op: Any, av: Any, flags: int, nxt: int) -> int:
        ignore_case = bool(flags & _C.SRE_FLAG_IGNORECASE)
        if op is _C.LITERAL or op is _C.NOT_LITERAL:
            ch = chr(av)
            same: Callable[[str], bool] = (lambda c: c.lower() == ch.lower()) if ignore_case else (lambda c: c == ch)
            pred = same if op is _C.LITERAL else (lambda c: not same(c))
            return self._new(_CHAR, pred, nxt, -1)
        if op is _C.ANY:
            pred = (lambda c: True) if flags & _C.SRE_FLAG_DOTALL else (lambda c: c != "\n")
            return self._new(_CHAR, pred, nxt, -1)
        if op is _C.IN:
            return self._new(_CHAR, self._set(av, ignore_case), nxt, -1)
        if op is _C.AT:
            return self._new(_ASSERT, self._anchor(av, flags), nxt, -1)
        if op is _C.BRANCH:
            starts = [self._seq(alt, flags, nxt) for alt in av[1]]
            start = starts[-1]
            for alt_start in reversed(starts[:-1]):
                start = self._new(_SPLIT, None, alt_start, start)
            return start
        if op is _C.SUBPATTERN:
            _group, add_flags, del_flags, body = av
            return self._seq(body, (flags | add_flags) & ~del_flags, nxt)
        if op is _C.MAX_REPEAT or op is _C.MIN_REPEAT:
            low, high, body = av
            if high is _C.MAXREPEAT or high == _C.MAXREPEAT:
                loop = self._new(_SPLIT, None, -1, nxt)
                self.out1[loop] = self._seq(body, flags, loop)
                start = loop
            else:
                start = nxt
                for _ in range(high - low):
                    start = self._new(_SPLIT, None, self._seq(body, flags, start), nxt)
            for _ in range(low):
                start = self._seq(body, flags, start)
            return start
        raise PatternError(
            "The pattern uses a feature Parley does not run (backreferences, lookarounds, atomic groups, "
            "possessive repeats or conditionals)."
        )

    @staticmethod
    def _set(items: Any, ignore_case: bool) -> Callable[[str], bool]:
        negate = False
        literals: set[str] = set()
        ranges: list[tuple[int, int]] = []
        categories: list[Callable[[str], bool]] = []
        for op, av in items:
            if op is _C.NEGATE:
                negate = True
            elif op is _C.LITERAL:
                literals.add(chr(av))
            elif op is _C.RANGE:
                ranges.append(av)
            elif op is _C.CATEGORY and av in _CATEGORIES:
                categories.append(_CATEGORIES[av])
            else:
                raise PatternError("The pattern uses a character class Parley does not run.")

        def member(c: str) -> bool:
            o = ord(c)
            return c in literals or any(lo <= o <= hi for lo, hi in ranges) or any(f(c) for f in categories)

        def test(c: str) -> bool:
            hit = member(c)
            if not hit and ignore_case:
                hit = any(len(v) == 1 and member(v) for v in (c.lower(), c.upper()))
            return hit != negate

        return test

    @staticmethod
    def _anchor(code: Any, flags: int) -> Callable[[str, int], bool]:
        multiline = bool(flags & _C.SRE_FLAG_MULTILINE)
        if code is _C.AT_BEGINNING:
            return lambda t, i: i == 0 or (multiline and t[i - 1] == "\n")
        if code is _C.AT_BEGINNING_STRING:
            return lambda t, i: i == 0
        if code is _C.AT_END:
            return lambda t, i: i == len(t) or (i == len(t) - 1 and t[i] == "\n") or (multiline and t[i] == "\n")
        if code is _C.AT_END_STRING:
            return lambda t, i: i == len(t)
        if code is _C.AT_BOUNDARY or code is _C.AT_NON_BOUNDARY:
            want = code is _C.AT_BOUNDARY

            def boundary(t: str, i: int) -> bool:
                before = i > 0 and _is_word(t[i - 1])
                after = i < len(t) and _is_word(t[i])
                return (before != after) == want

            return boundary
        raise PatternError("The pattern uses an anchor Parley does not run.")

    # simulation: the set of live states advances one character at a time
    def _close(self, live: set[int], chars: list[int], state: int, text: str, pos: int) -> bool:
        """Add `state` and what it reaches without reading a character; True when that includes MATCH."""
        stack = [state]
        matched = False
        while stack:
            s = stack.pop()
            if s in live:
                continue
            live.add(s)
            kind = self.kinds[s]
            if kind == _CHAR:
                chars.append(s)
            elif kind == _SPLIT:
                stack.append(self.out2[s])
                stack.append(self.out1[s])
            elif kind == _ASSERT:
                if self.args[s](text, pos):
                    stack.append(self.out1[s])
            else:
                matched = True
        return matched

    def search(self, text: str) -> bool:
        live: set[int] = set()
        chars: list[int] = []
        if self._close(live, chars, self.start, text, 0):
            return True
        for pos, ch in enumerate(text):
            next_live: set[int] = set()
            next_chars: list[int] = []
            for s in chars:
                if self.args[s](ch) and self._close(next_live, next_chars, self.out1[s], text, pos + 1):
                    return True
            if self._close(next_live, next_chars, self.start, text, pos + 1):
                return True
            live, chars = next_live, next_chars
        return False


_compiled: dict[str, Pattern] = {}


def compile_pattern(source: str) -> Pattern:
    """The linear-time matcher for a pattern (cached; patterns are few and small)."""
    pattern = _compiled.get(source)
    if pattern is None:
        pattern = Pattern(source)
        if len(_compiled) > 1000:
            _compiled.clear()
        _compiled[source] = pattern
    return pattern
