"""Turn what a person typed into a safe FTS5 expression.

The only syntax a user gets is what a search box user expects:

- words, which must all match (AND): ``payments primary``;
- ``"quoted phrases"``, whose words must appear next to each other in order;
- a trailing ``*`` for a prefix: ``pay*`` matches "payments", ``"on ca"*`` matches "on call".

Everything else (``OR``, ``AND``, ``NOT``, ``NEAR(``, ``title:``, ``sys_racl:x``, ``^``,
parentheses, ``-``, ``+``, stray or unbalanced quotes, control characters) is plain text. Every
term reaches FTS5 as a double-quoted string, so FTS5 only ever tokenizes it: punctuation inside a
word (``on-call``, ``a.b@x.com``) splits exactly as it did when the document was indexed, and the
pieces must appear next to each other.

Two allowances for questions typed as prose ("who is on the database schedules", "who is on
call for payments?", "who do I page when checkout breaks"): common English words and the words
of such questions (``STOP_WORDS``: "who", "is", "call", "page", "breaks", ...) are dropped when
other words remain, and a plain word also matches its singular or plural (``schedules`` finds
"schedule", ``policy`` finds "policies"). Quoted phrases are taken literally.

``-word`` (or ``-"a phrase"``) at the start of a word excludes the documents holding it
(``payments -primary``); a ``-`` anywhere else is plain text (``on-call``). A query of
exclusions only lists the visible documents without them.

Absurd inputs are cut down rather than rejected: at most ``MAX_QUERY_CHARS`` characters are read
and at most ``MAX_TERMS`` terms are kept.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass

MAX_QUERY_CHARS = 1000
MAX_TERMS = 32
# A single "word" longer than this can't match anything a person wrote; cutting it keeps the
# FTS5 expression small.
MAX_TERM_CHARS = 200

STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "can", "could", "do", "does", "did", "for",
        "from", "has", "have", "how", "i", "in", "is", "it", "its", "me", "my", "not", "of", "on",
        "or", "our", "show", "that", "the", "their", "there", "these", "this", "to", "was", "what",
        "when", "where", "which", "who", "whom", "whose", "why", "will", "with",
        # The words of a question about who to reach, and of the trouble it is asked in: they
        # say nothing about *which* team or service ("who is on call for payments?" is about
        # payments). "on call" is in nearly every document; "on-call" (one word) stays.
        "anyone", "anybody", "someone", "somebody", "should", "would", "we", "you", "your",
        "us", "if", "so", "just", "right", "now", "currently", "today", "tonight", "about",
        "call", "calls", "oncall", "page", "paged", "paging", "contact", "reach", "ping",
        "notify", "alert", "escalate", "responsible", "get", "gets", "got", "need", "needs",
        "having", "happening", "again", "break", "breaks", "broke", "broken", "down", "fail",
        "fails", "failing", "failed", "issue", "issues", "problem", "problems", "help", "wrong",
        "going", "goes", "something", "tell",
    }
)

# unicode61's default token characters are the categories L*, N* and Co; everything else
# separates tokens.
_TOKEN_CATEGORIES = ("L", "N")


def is_token_char(ch: str) -> bool:
    """True when unicode61 (default categories ``L* N* Co``) treats ``ch`` as part of a token."""
    cat = unicodedata.category(ch)
    return cat[0] in _TOKEN_CATEGORIES or cat == "Co"


def has_token(text: str) -> bool:
    return any(is_token_char(ch) for ch in text)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def word_forms(word: str) -> tuple[str, ...]:
    """The singular and plural of an English word, the word first; other words alone.

    Only plain ASCII words of three letters or more are folded, so names, ids and anything with
    punctuation are matched exactly.
    """
    if len(word) < 3 or not word.isascii() or not word.isalpha():
        return (word,)
    w = word.lower()
    forms = [word]
    if w.endswith("ies") and len(w) > 4:
        forms.append(word[:-3] + "y")
    elif w.endswith(("sses", "xes", "zes", "ches", "shes")):
        forms.append(word[:-2])
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        forms.append(word[:-1])
    elif w.endswith("y") and w[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    elif w.endswith(("s", "x", "z", "ch", "sh")):
        forms.append(word + "es")
    else:
        forms.append(word + "s")
    return tuple(forms)


@dataclass(frozen=True)
class Term:
    """One search term: a word or a quoted phrase, optionally a prefix."""

    text: str
    phrase: bool = False
    prefix: bool = False

    def fts(self) -> str:
        if self.prefix:
            return _quote(self.text) + " *"
        if self.phrase:
            return _quote(self.text)
        forms = word_forms(self.text)
        if len(forms) == 1:
            return _quote(forms[0])
        return "(" + " OR ".join(_quote(f) for f in forms) + ")"


@dataclass(frozen=True)
class ParsedQuery:
    """A parsed search.

    ``blank`` is true when the input held nothing but whitespace (or was empty): the caller then
    browses every visible document instead of searching. An input that is not blank but has no
    searchable characters (``"***"``, ``"🙂"``) has ``terms == ()`` and ``blank`` false: it
    matches nothing.
    """

    terms: tuple[Term, ...]
    blank: bool
    #: Terms written ``-word``: documents holding one are left out.
    excluded: tuple[Term, ...] = ()

    @property
    def browse(self) -> bool:
        """Nothing to look for: list the visible documents (without the excluded ones)."""
        return self.blank or (not self.terms and bool(self.excluded))

    def fts(self, *, any_term: bool = False, skip: Collection[Term] = ()) -> str | None:
        """The FTS5 expression requiring every term (or, with ``any_term``, at least one), leaving
        out ``skip``; None when there is nothing to match."""
        terms = [t for t in self.terms if t not in skip]
        if not terms:
            return None
        return (" OR " if any_term else " AND ").join(term.fts() for term in terms)

    def excluding(self, expression: str) -> str:
        """``expression`` without the documents holding an excluded term."""
        if not self.excluded:
            return expression
        return ("(" + expression + ") NOT (" + " OR ".join(t.fts() for t in self.excluded)
                + ")")

    def kind_intent(self, kinds: Collection[str]) -> tuple[str, tuple[Term, ...]] | None:
        """The document type the query asks for, and the terms naming it.

        ``kinds`` are the document types in the index (``escalation_policy``, ``schedule``). A
        query asks for a type when it *ends* with words of that type's name, singular or plural:
        "database reliability schedules", "payments escalation policy". Elsewhere such words
        describe rather than ask ("8 escalation levels in total"), so they stay plain terms.
        """
        words = {kind: set(kind.lower().replace("_", " ").split()) for kind in kinds}
        named: set[str] = set()
        naming: list[Term] = []
        for term in reversed(self.terms):
            if term.phrase or term.prefix:
                break
            forms = {f.lower() for f in word_forms(term.text)}
            hits = {kind for kind, ws in words.items() if forms & ws}
            if not hits or (named and not hits & named):
                break
            named = hits if not named else named & hits
            naming.append(term)
        if len(named) != 1:
            return None
        return named.pop(), tuple(naming)


def _clean(raw: str) -> str:
    """Drop characters that can't be searched or bound safely: control characters (NUL included)
    become spaces and lone surrogates, which can't be encoded as UTF-8, vanish."""
    out: list[str] = []
    for ch in raw[:MAX_QUERY_CHARS]:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            out.append(" ")
        elif cat == "Cs":
            continue
        else:
            out.append(ch)
    return "".join(out)


def _term(text: str, *, phrase: bool, prefix: bool) -> Term | None:
    text = text[:MAX_TERM_CHARS]
    if not has_token(text):
        return None
    if not phrase and not prefix:
        # "payments?" and "(checkout)" are the words: FTS5 would drop the punctuation anyway,
        # and without it the word is recognised as a common word or folded to its plural.
        start, end = 0, len(text)
        while not is_token_char(text[start]):
            start += 1
        while not is_token_char(text[end - 1]):
            end -= 1
        text = text[start:end]
    if prefix:
        # FTS5 marks the *last token* of the string as a prefix; trailing punctuation would
        # leave that token intact anyway, so strip it to keep "pay-*" meaning "pay*".
        stripped = text.rstrip()
        while stripped and not is_token_char(stripped[-1]):
            stripped = stripped[:-1]
        text = stripped
    return Term(text=text, phrase=phrase, prefix=prefix)


def parse_query(raw: str) -> ParsedQuery:
    """Parse user input into terms. Never raises for any string."""
    text = _clean(raw)
    if not text.strip():
        return ParsedQuery(terms=(), blank=True)

    terms: list[Term] = []
    excluded: list[Term] = []
    i, n = 0, len(text)
    while i < n and len(terms) + len(excluded) < MAX_TERMS:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        exclude = ch == "-" and i + 1 < n and (text[i + 1] == '"' or is_token_char(text[i + 1]))
        if exclude:
            i += 1
            ch = text[i]
        if ch == '"':
            close = text.find('"', i + 1)
            if close == -1:
                # An unbalanced quote is just a character; carry on with the words after it.
                i += 1
                continue
            body = text[i + 1 : close]
            i = close + 1
            prefix = i < n and text[i] == "*"
            if prefix:
                i += 1
            term = _term(body, phrase=True, prefix=prefix)
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] != '"':
                j += 1
            word = text[i:j]
            i = j
            prefix = word.endswith("*") and has_token(word)
            term = _term(word.rstrip("*") if prefix else word, phrase=False, prefix=prefix)
        into = excluded if exclude else terms
        if term is not None and term not in into:
            into.append(term)
    meaningful = [t for t in terms if t.phrase or t.prefix or t.text.lower() not in STOP_WORDS]
    return ParsedQuery(terms=tuple(meaningful or terms), blank=False, excluded=tuple(excluded))


def to_fts(raw: str) -> str | None:
    """The safe FTS5 expression for ``raw`` (exclusions included), or None when it has nothing
    to search for."""
    parsed = parse_query(raw)
    found = parsed.fts()
    return None if found is None else parsed.excluding(found)
