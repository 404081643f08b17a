"""What ``route="auto"`` reads of a request: the ask, as words, topics and a few shapes.

The fitted model (:mod:`~costaware.core.routing.classifier`) weighs these features; the fitting
script (``scripts/fit_auto.py``) calls the very same :func:`features`, so what is fitted is what runs.

Only the *ask* is read (:func:`asks`): the user's turns, and of a long turn only its head and its
tail (:data:`ASK_HEAD` and :data:`ASK_TAIL` characters), where people state what they want
("Summarize the report below", "... now compare the two"). The system prompt, a pasted document's
middle, tool results and the assistant's turns are not read: a long input is not by itself a hard task.

Features are strings, each counted once per ask:

- ``<word>``: a lower-cased ASCII word (other scripts are not read as words); a number is
  ``<num>``, a one-digit one ``<digit>``;
- ``p:<mark>``: a punctuation mark or symbol (``p:=``, ``p:{``, ``p:$``);
- ``g:<topic>`` and ``g:<topic>+``: one, or two or more distinct, terms of a topic of
  :mod:`~costaware.core.routing.lexicon` (code, math, reasoning, writing, ...); in a message of
  several lines, a topic found only outside the lines that ask something is ``g:<topic>~`` instead
  (the topic of the material asked about, not of the ask);
- ``s:<shape>``: a structural sign: code lines, formulas, lettered choices, several numbers, a very
  short ask.

Words and marks are many and each weighs little: the model scales their sum by
``1/sqrt(count)``. Topics and shapes (``g:`` and ``s:``) count in full.

>>> sorted(f for f in features("Prove that 17 is prime.") if f[0] in "gs")
['g:math', 'g:math+', 's:short']
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from types import MappingProxyType

from costaware.core.routing.lexicon import GROUPS
from costaware.core.routing.reading import is_mapping

__all__ = [
    "ASK_HEAD",
    "ASK_TAIL",
    "MAX_EARLIER",
    "ask_parts",
    "ask_text",
    "ask_window",
    "asks",
    "features",
    "is_dense",
    "opens_like_a_request",
]

ASK_HEAD = 600
ASK_TAIL = 300
_MIN_PARAGRAPH = 20  # a shorter first or last "paragraph" ("Hi,", a title) is not where the ask is
MAX_EARLIER = 2
"""Besides the last user turn, how many earlier ones are read (the first, and the one before the last):
a follow-up ("now make it faster") is as hard as the conversation it continues."""

# Lower-case ASCII letters stay, digits all become "0" (a number is a run of zeros), anything else
# (punctuation, other scripts' UTF-8 bytes) a space: one C-level pass, then str.split().
_CLEAN = bytes(
    b + 32 if 65 <= b <= 90 else 48 if 48 <= b <= 57 else b if 97 <= b <= 122 else 32 for b in range(256)
)
_SYMBOLS = tuple(string.punctuation)
_FORMULA_MARKS = ("=", "^", "*", "/", "<", ">", "$", "\\")
_CODE_ENDS = (";", "{", "}", "):", "=>")
_CODE_STARTS = ("def ", "class ", "return", "import ", "for ", "if ", "while ", "fn ", "let ", "const ",
                "var ", "public ", "private ", "#include")  # fmt: skip
# Code is looked for line by line only when the text holds one of these.
_CODE_HINTS = (";", "{", "}", "):", "=>", *_CODE_STARTS)
_CHOICE = re.compile(r"\(?[A-Ea-e][).:]\s")
# Names the tokenizer would split, read as one word.
_JOINED = (("c++", " cpp "), ("c#", " csharp "), (".net", " dotnet "), ("tl;dr", " tldr "))
_WORD_GROUP: Mapping[str, str] = MappingProxyType(
    {t: g for g, terms in GROUPS.items() for t in terms if " " not in t}
)
_WORD_TERMS = frozenset(_WORD_GROUP)
_PAIRS_BY_HEAD: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        head: tuple((f" {t} ", g) for g, terms in GROUPS.items() for t in terms if t.split(" ")[0] == head)
        for head in {t.split(" ")[0] for terms in GROUPS.values() for t in terms if " " in t}
    }
)
_PAIR_HEADS = frozenset(_PAIRS_BY_HEAD)


def is_dense(feature: str) -> bool:
    """Whether a feature counts in full (topics ``g:``, shapes ``s:``) rather than as one of the words."""
    return feature.startswith(("g:", "s:"))


def ask_window(text: str) -> str:
    """One message cut to where an ask is stated: all of a short one, the head and tail of a long one
    (``ASK_HEAD`` and ``ASK_TAIL`` characters). The model is fitted on these windows."""
    if len(text) <= ASK_HEAD + ASK_TAIL:
        return text
    return f"{text[:ASK_HEAD]}\n{text[-ASK_TAIL:]}"


def ask_parts(text: str) -> tuple[str, ...]:
    """One message as the parts the classifier scores: a short one whole; a long one (over
    ``ASK_HEAD + ASK_TAIL`` characters) as its first and its last paragraph (cut to ``ASK_HEAD`` and
    ``ASK_TAIL`` characters), one of which is usually the instruction and the other a pasted
    document's edge; a long one without paragraphs as its :func:`ask_window`."""
    if len(text) <= ASK_HEAD + ASK_TAIL:
        return (text,)
    head, tail = text[:ASK_HEAD], text[-ASK_TAIL:]
    end = head.find("\n\n", _MIN_PARAGRAPH)
    start = tail.rfind("\n\n", 0, len(tail) - _MIN_PARAGRAPH)
    if end < 0 and start < 0:
        return (f"{head}\n{tail}",)
    return (head[:end] if end > 0 else head, tail[start + 2 :] if start >= 0 else tail)


# Words a request opens with (imperatives, question words, politeness), for telling a long message's
# instruction from the edge of the document pasted with it.
_OPENERS = """summarize summarise write extract explain translate find answer classify list give tell what how
    why which who whom whose when where can could would will should is are do does did please prove
    solve compute calculate implement create generate describe compare analyze analyse evaluate review
    rewrite fix debug identify determine make draft design suggest help convert check read use based
    given consider now i we"""
_REQUEST_OPENERS = frozenset(_OPENERS.split())
_FIRST_WORD = re.compile(r"[A-Za-z]+")


def opens_like_a_request(text: str) -> bool:
    """Whether ``text`` starts like something asked of the model (its first word is an imperative, a
    question word or "please"), rather than like a document.

    >>> opens_like_a_request("Summarize the report above."), opens_like_a_request("# Quarterly report")
    (True, False)
    """
    match = _FIRST_WORD.match(text.lstrip())
    return match is not None and match.group().lower() in _REQUEST_OPENERS


def ask_text(parts: tuple[str, ...]) -> str:
    """The text scored for one message given as its :func:`ask_parts`: the only part of a short one;
    of a long one, the end that opens like a request (:func:`opens_like_a_request`) or, when both or
    neither do, the last (a document, then what is asked about it)."""
    if len(parts) == 1:
        return parts[0]
    return parts[0] if opens_like_a_request(parts[0]) and not opens_like_a_request(parts[-1]) else parts[-1]


def features(text: str) -> set[str]:
    """The features of one ask (see the module docstring); the caller cuts it to its window."""
    raw = _clean(text)
    tokens = raw.split()
    found = set(tokens)
    numbers = 0
    if "0" in raw:  # every digit is a "0" now: a number is a token that starts with one
        numbers = f" {raw}".count(" 0")
        zeros = [t for t in found if t[0] == "0"]
        found.difference_update(zeros)
        found.update(["<digit>" if len(t) == 1 else "<num>" for t in zeros])
    topics = _topics(found, tokens)
    asked = _asked_topics(text) if topics and "\n" in text else None
    for group, terms in topics.items():
        if asked is not None and group not in asked:
            found.add("g:" + group + "~")  # only in what the ask is about, not in the ask itself
            continue
        found.add("g:" + group)
        if len(terms) >= 2:
            found.add("g:" + group + "+")
    found.update(["p:" + mark for mark in _SYMBOLS if mark in text])
    found.update(_shapes(text, numbers, len(tokens)))
    return found


def _clean(text: str) -> str:
    """``text`` lower-cased, with the joined names (``c++``) made words, digits made ``0`` and anything
    else not a letter made a space."""
    lower = text.lower()
    for name, word in _JOINED:
        if name in lower:
            lower = lower.replace(name, word)
    return lower.encode("utf-8", "ignore").translate(_CLEAN).decode("ascii")


def _topics(found: AbstractSet[str], tokens: list[str]) -> dict[str, set[str]]:
    """The lexicon's topics among ``tokens`` (``found``: the same as a set), each with its terms."""
    topics: dict[str, set[str]] = {}
    for term in found & _WORD_TERMS:
        topics.setdefault(_WORD_GROUP[term], set()).add(term)
    heads = found & _PAIR_HEADS
    if heads:
        joined = f" {' '.join(tokens)} "
        for head in heads:
            for pair, group in _PAIRS_BY_HEAD[head]:
                if pair in joined:
                    topics.setdefault(group, set()).add(pair)
    return topics


def _asked_topics(text: str) -> AbstractSet[str]:
    """The topics of the lines of a message that ask something (hold a question mark or open like a
    request); all topics when no line does. Topics only in the other lines are those of the material
    the ask is about (a news article to file under a section, two sentences to compare), and are
    features of their own (``g:<topic>~``): "react" in an article is not a question about React.

    >>> sorted(_asked_topics("Which of the following is it about?\\nReact faster."))
    ['reasoning']
    """
    lines = [line for line in text.splitlines() if "?" in line or opens_like_a_request(line)]
    if not lines:
        return GROUPS.keys()
    tokens = _clean(" ".join(lines)).split()
    return _topics(set(tokens), tokens).keys()


def _shapes(text: str, numbers: int, words: int) -> list[str]:
    shapes: list[str] = []
    if "```" in text:
        shapes.append("s:fence")
    if "\n" in text:
        lines = text.splitlines()
        if len(lines) >= 6:
            shapes.append("s:lines")
        code = _code_lines(text, lines)
        if code >= 2:
            shapes.append("s:code")
        if code >= 6:
            shapes.append("s:much_code")
        if (")" in text or "." in text or ":" in text) and _choices(lines) >= 3:
            shapes.append("s:choices")
    if _formula_marks(text) >= 3:
        shapes.append("s:formula")
    if numbers >= 3:
        shapes.append("s:numbers3")
    if numbers >= 6:
        shapes.append("s:numbers6")
    if text.count("?") >= 2:
        shapes.append("s:questions")
    if words <= 12:
        shapes.append("s:short")
    return shapes


def _formula_marks(text: str) -> int:
    """Formula marks (``=``, ``^``, ``*``, ``/``, ``<``, ``>``, ``$``, backslash), counting up to 3."""
    found = 0
    for mark in _FORMULA_MARKS:
        if mark in text:
            found += text.count(mark)
            if found >= 3:
                break
    return found


def _code_lines(text: str, lines: list[str]) -> int:
    """Lines that end like code (``;``, ``{``, ``):`` ...) or start with a keyword (``def``, ``if`` ...)."""
    if not any(mark in text for mark in _CODE_HINTS):
        return 0
    ends = sum(1 for line in lines if line.rstrip().endswith(_CODE_ENDS))
    return ends + sum(1 for line in lines if line.lstrip().startswith(_CODE_STARTS))


def _choices(lines: list[str]) -> int:
    """Lines that start like a lettered choice: ``A)``, ``(b)``, ``C.``, ``d:``."""
    return sum(1 for line in lines if _CHOICE.match(line.lstrip()))


def asks(kwargs: Mapping[str, object]) -> tuple[tuple[str, ...], ...]:
    """The asks of a request, last first, each as its :func:`ask_parts`: the last user turn, then up
    to :data:`MAX_EARLIER` earlier user turns (the conversation's first, and the one before the last).
    Empty if it has none.

    Reads Anthropic ``messages``, OpenAI Chat ``messages`` and Responses ``input`` (a string or items);
    user turns that carry only tool results are not asks. Never raises on malformed input.

    >>> asks({"messages": [{"role": "system", "content": "Be brief."},
    ...                              {"role": "user", "content": "Hi"}]})
    (('Hi',),)
    """
    if not is_mapping(kwargs):
        return ()
    messages = kwargs.get("messages")
    if messages is None:  # Responses
        messages = kwargs.get("input")
    if isinstance(messages, str):
        return (ask_parts(messages),)
    if not isinstance(messages, (list, tuple)):
        return ()
    turns: list[str] = []
    for message in messages:
        if is_mapping(message) and message.get("role") == "user":
            text = _text(message.get("content"))
            if text.strip():
                turns.append(text)
    if not turns:
        return ()
    picked = [turns[-1]]
    if len(turns) > 1:
        picked.append(turns[0])
    if len(turns) > 2 and MAX_EARLIER > 1:
        picked.append(turns[-2])
    return tuple(ask_parts(t) for t in picked)


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, (list, tuple)):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif is_mapping(part) and part.get("type") in ("text", "input_text"):
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts)
