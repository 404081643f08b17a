"""When a cached answer may be served for a question asked in other words: the paraphrase rule.

Cosine similarity of embeddings is a good *candidate* finder and a bad judge: a static embedding is
close to a bag of words, so "return to England through Scotland" and "to Scotland through England" score
~0.99, as high as true paraphrases, and "what if water disappeared" is as close to "what if ants
disappeared" as most real duplicates are to each other. A served answer to another question is worse
than a miss (a miss costs one call; a wrong hit is a wrong answer), so a semantic hit needs both a
similarity above :attr:`ParaphraseRule.min_similarity` and a :meth:`ParaphraseRule.verify` that finds
no difference in what the two texts ask:

- the same numbers (digits, number words, ordinals: "3" = "three", "5th" = "fifth");
- the same count of negations ("not", "n't", "never", "without" ...);
- the same kind of question (what/which, how, how many, why, who, when, where, yes/no, none);
- the same names: a capitalised word that does not start a sentence, an acronym or a code like "j7"
  on one side must appear on the other (typos of doubled letters or swapped neighbours allowed);
- the same content words, after light stemming and a few words that only grade a question ("best",
  "good", "some") are set aside: a substituted word ("water" / "ants") is a different question; how
  many words one side may add is what :attr:`ParaphraseRule.strictness` loosens;
- the same order of the shared content words, and the same relation words before them ("from" /
  "to" / "by" ...): who did what to whom.

These checks are linguistic, not fitted weights, so they carry to other wording; their thresholds
were chosen on public labelled pairs (QQP, PAWS, MRPC) with a tune-half / test-half split:
``bench/semantic_cache.md`` has the curve and the figures.

>>> rule = ParaphraseRule()
>>> rule.verify("Can I return to England through Scotland?", "Can I return to Scotland through England?")
Verdict(same=False, reason='word order differs: england')
>>> rule.verify("What are the best books on cosmology?", "Which is the best book for cosmology?")
Verdict(same=True, reason='same question')
>>> rule.decide(0.97, "Is 3 a prime number?", "Is 4 a prime number?").reason
'numbers differ: 3 vs 4'

Pure: no I/O, no numpy. The analysis of a text is memoised (a stored question is analysed once).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["DEFAULT_STRICTNESS", "ParaphraseRule", "Verdict"]

DEFAULT_STRICTNESS = 0.3
"""The default of :attr:`ParaphraseRule.strictness` (see ``bench/semantic_cache.md`` for its curve)."""

SAME = "same question"


def _words(text: str) -> list[str]:
    return text.split()


_TOKEN = re.compile(
    r"\d+(?:[.,]\d+)*(?:st|nd|rd|th)?|n['\u2019]t|['\u2019][a-z]+|[^\W\d_]+(?:['\u2019][^\W\d_]+)*|[.?!;:\"“”()\[\]]"
)
_BOUNDARY = frozenset('.?!;:"“”()[]')
_STOPWORDS = frozenset(
    _words("""a an the and or but if so as of in on at for about with into onto to from by via through per
    i me my mine myself we us our ours you your yours yourself he him his she her hers it its they them
    their this that these those there here who whom whose which what when where why how
    is are was were be been being am do does did doing done have has had having can could will would
    shall should may might must get gets got getting let make makes
    some any all each every much many lot lots really actually very just also still even ever quite
    such one ones thing things way ways someone somebody something anyone anybody anything people
    please tell know want wish like""")
)
"""Function words, and the words questions use to frame an ask ("tell me", "is there a way to")."""
_GRADING = frozenset(_words("best good top great greatest better nice"))
"""Words that grade a question without changing it ("the best books" asks for "good books"); their
opposites ("worst", "bad") stay content words, so "best" against "worst" still differs."""
_NEGATIONS = frozenset(
    _words("""not no never none nobody nothing nowhere neither nor without cannot cant dont doesnt didnt isnt
    arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt aint""")
)
_ROLES = {
    "from": "source",
    "to": "goal",
    "into": "goal",
    "onto": "goal",
    "toward": "goal",
    "towards": "goal",
    "by": "agent",
    "via": "path",
    "through": "path",
    "before": "before",
    "after": "after",
    "than": "than",
    "over": "over",
    "above": "over",
    "under": "under",
    "below": "under",
    "against": "against",
    "within": "within",
    "until": "until",
    "till": "until",
    "since": "since",
}
"""Relation words whose change changes who does what to whom ("from Abilene to Arlington")."""
_QUANTIFIERS = {"all": "all", "every": "all", "each": "all", "some": "some", "any": "some"}
_QUANTIFIERS.update({"most": "most", "few": "few", "several": "several", "both": "both", "either": "either"})
"""How much of something a question is about ("Are all mushrooms poisonous?" is not "Are some..."):
must agree, like negation."""
_HEADS = {"is": "be", "are": "be", "was": "be", "were": "be", "am": "be", "do": "do", "does": "do"}
_HEADS.update({"did": "do", "can": "can", "could": "can", "will": "will", "would": "will", "shall": "should"})
_HEADS.update(
    {"should": "should", "may": "may", "might": "may", "must": "must", "has": "have", "have": "have"}
)
_HEADS.update({"had": "have"})
"""The verb a yes/no question opens with, by what it asks ("Can I give..." is not "Must I give...")."""
_PERSONS = {"i": ("1", "s"), "me": ("1", "o"), "we": ("1p", "s"), "us": ("1p", "o"), "he": ("3m", "s")}
_PERSONS.update({"him": ("3m", "o"), "she": ("3f", "s"), "they": ("3p", "s"), "them": ("3p", "o")})
"""Personal pronouns that say who does what ("Should I tell him?" is not "Should he tell me?")."""
_WH = {"what": "what", "which": "what", "who": "who", "whom": "who", "whose": "who", "when": "when"}
_WH.update({"where": "where", "why": "why", "how": "how"})
_HOW_MUCH = frozenset(_words("many much long old far often big tall large fast"))
_AUX = frozenset(
    _words("""is are was were am do does did can could will would should shall may might must has have had
    isn't aren't don't doesn't didn't can't won't""")
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _words("""zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
        fifteen sixteen seventeen eighteen nineteen twenty""")
    )
}
_NUMBER_WORDS.update(
    {w: str(10 * i) for i, w in enumerate(_words("thirty forty fifty sixty seventy eighty ninety"), 3)}
)
_NUMBER_WORDS.update({"hundred": "100", "thousand": "1000", "million": "1000000", "billion": "1000000000"})
_NUMBER_WORDS.update(
    {w: f"{i}th" for i, w in enumerate(_words("third fourth fifth sixth seventh eighth ninth tenth"), 3)}
)
_ORDINAL_SUFFIX = re.compile(r"(?<=\d)(st|nd|rd)$")


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether two texts ask the same thing, and if not, the first difference found."""

    same: bool
    reason: str
    """``"same question"``, or what differs, e.g. ``"numbers differ: 3 vs 4"``."""

    @property
    def check(self) -> str:
        """The check that decided, without the values it compared (a bounded metric label).

        >>> Verdict(False, "numbers differ: 3 vs 4").check, Verdict(False, "similarity 0.5 below 0.8").check
        ('numbers differ', 'similarity')
        """
        head = self.reason.partition(":")[0]
        return head.split(" ", 1)[0] if head == self.reason else head


@dataclass(frozen=True, slots=True)
class _Text:
    """What the checks read of one text (computed once per distinct text)."""

    content: tuple[str, ...]
    """Stems of the content words and numbers, first occurrences, in order."""
    words: frozenset[str]
    """Stems of every word, function words included (where a name of the other side is looked up)."""
    numbers: tuple[str, ...]
    negations: int
    kind: str
    names: tuple[str, ...]
    roles: tuple[tuple[str, str], ...]
    """(stem, relation) for content words that follow a relation word."""
    quantifiers: frozenset[str] = frozenset()
    head: str = ""
    """For a yes/no question, what its opening verb asks (``be``, ``can``, ``must``...)."""
    persons: tuple[tuple[str, str], ...] = ()
    """(person, subject or object) of each personal pronoun."""


@dataclass(frozen=True, slots=True)
class _Tolerance:
    added: int
    """Content words one side may have that the other lacks (when the other lacks none)."""
    substituted: int
    """Content words both sides may have that the other lacks (a substitution)."""
    moved: int
    """Shared content words that may be out of order."""
    loose_kind: bool
    """Whether "what" and "how" questions may match ("what is the way to" / "how do I")."""


@dataclass(frozen=True, slots=True)
class ParaphraseRule:
    """The rule that decides a semantic hit; one knob, :attr:`strictness`.

    ``strictness`` runs from 0.0 (most hits) to 1.0 (safest): it raises the similarity threshold and
    lowers how many content words may be added, substituted or moved. Numbers, negation, names,
    relations and (above 0.3) the kind of question must agree at every setting.

    >>> ParaphraseRule(strictness=0.0).min_similarity < ParaphraseRule().min_similarity
    True
    >>> ParaphraseRule().verify("What is a credit score?", "What is credit score?").same
    True
    """

    strictness: float = DEFAULT_STRICTNESS

    def __post_init__(self) -> None:
        if not 0.0 <= self.strictness <= 1.0:
            raise ValueError(f"strictness must be within [0, 1], not {self.strictness!r}")

    @property
    def min_similarity(self) -> float:
        """The cosine similarity below which a candidate is not even verified.

        >>> ParaphraseRule(strictness=1.0).min_similarity
        0.95
        """
        return round(0.7 + 0.25 * self.strictness, 4)

    @property
    def _tolerance(self) -> _Tolerance:
        s = self.strictness
        return _Tolerance(
            added=2 if s < 0.2 else 1 if s < 0.6 else 0,
            substituted=1 if s < 0.1 else 0,
            moved=1 if s < 0.2 else 0,
            loose_kind=s < 0.3,
        )

    def decide(self, similarity: float, stored: str, asked: str) -> Verdict:
        """Whether ``asked`` may be answered with the answer stored for ``stored``.

        >>> ParaphraseRule().decide(0.5, "What is a credit score?", "What is credit score?")
        Verdict(same=False, reason='similarity 0.500 below 0.775')
        """
        if similarity < self.min_similarity:
            return Verdict(False, f"similarity {similarity:.3f} below {self.min_similarity}")
        return self.verify(stored, asked)

    def verify(self, stored: str, asked: str) -> Verdict:
        """The lexical and structural checks alone (no similarity).

        >>> ParaphraseRule().verify("Why is the sky blue?", "Why isn't the sky blue?").reason
        'negation differs'
        >>> ParaphraseRule().verify("Flights from Paris to Rome", "Flights to Paris from Rome").reason
        'relations differ: paris'
        """
        if stored == asked:
            return Verdict(True, SAME)
        a, b = _analyse(stored), _analyse(asked)
        tol = self._tolerance
        if a.numbers != b.numbers:
            return Verdict(
                False, f"numbers differ: {' '.join(a.numbers) or '-'} vs {' '.join(b.numbers) or '-'}"
            )
        if a.negations != b.negations:
            return Verdict(False, "negation differs")
        # In a wh-question "some" frames the ask ("What are some good books?"); elsewhere it is the claim.
        if a.quantifiers != b.quantifiers and not (a.kind == b.kind and a.kind not in ("", "yes/no")):
            return Verdict(
                False,
                f"quantifiers differ: {' '.join(sorted(a.quantifiers)) or '-'} vs "
                f"{' '.join(sorted(b.quantifiers)) or '-'}",
            )
        if a.kind == b.kind == "yes/no" and a.head != b.head:
            return Verdict(False, f"question verb differs: {a.head or '-'} vs {b.head or '-'}")
        if _swapped(a.persons, b.persons):
            return Verdict(False, "persons differ: who does what to whom")
        if a.kind != b.kind and not (tol.loose_kind and {a.kind, b.kind} == {"what", "how"}):
            return Verdict(False, f"question word differs: {a.kind or '-'} vs {b.kind or '-'}")
        missing = [n for n in a.names if not _has(b.words, n)] + [n for n in b.names if not _has(a.words, n)]
        if missing:
            return Verdict(False, f"names differ: {', '.join(missing)}")
        return _compare_content(a, b, tol)


def _swapped(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> bool:
    """Whether a person is the subject on one side and the object on the other.

    >>> _swapped((("1", "s"), ("3m", "o")), (("3m", "s"), ("1", "o"))), _swapped((("1", "s"),), (("2", "s"),))
    (True, False)
    """
    cases_b: dict[str, set[str]] = {}
    for person, case in b:
        cases_b.setdefault(person, set()).add(case)
    return any(person in cases_b and case not in cases_b[person] for person, case in a)


def _compare_content(a: _Text, b: _Text, tol: _Tolerance) -> Verdict:
    only_a = [w for w in a.content if not _has(b.words, w)]
    only_b = [w for w in b.content if not _has(a.words, w)]
    if only_a and only_b:
        if len(only_a) > tol.substituted or len(only_b) > tol.substituted:
            return Verdict(False, f"words differ: {' '.join(only_a)} vs {' '.join(only_b)}")
    elif len(only_a) + len(only_b) > tol.added:
        return Verdict(False, f"words differ: {' '.join(only_a) or '-'} vs {' '.join(only_b) or '-'}")
    elif only_a or only_b:
        shorter = min(len(a.content), len(b.content))
        if shorter < 3:  # "What is X?" against "What is X of Y?": too little left to be the same ask
            return Verdict(False, f"words differ: {' '.join(only_a) or '-'} vs {' '.join(only_b) or '-'}")
    position = {w: i for i, w in reversed(list(enumerate(b.content)))}
    order = [(position[w], w) for w in a.content if w in position]
    moved = _out_of_order(order)
    if len(moved) > tol.moved:
        return Verdict(False, f"word order differs: {' '.join(moved)}")
    roles_b = dict(b.roles)
    for word, role in a.roles:
        other = roles_b.get(word)
        if other is not None and other != role:
            return Verdict(False, f"relations differ: {word}")
    return Verdict(True, SAME)


def _out_of_order(order: list[tuple[int, str]]) -> list[str]:
    """The words not on a longest increasing run of positions (the fewest words that moved).

    >>> _out_of_order([(0, "a"), (2, "c"), (1, "b")])
    ['c']
    """
    if all(order[i][0] < order[i + 1][0] for i in range(len(order) - 1)):
        return []
    tails: list[int] = []
    tail_at: list[int] = []
    parent = [-1] * len(order)
    for i, (pos, _) in enumerate(order):
        k = bisect_left(tails, pos)
        parent[i] = tail_at[k - 1] if k else -1
        if k == len(tails):
            tails.append(pos)
            tail_at.append(i)
        else:
            tails[k] = pos
            tail_at[k] = i
    keep: set[int] = set()
    i = tail_at[-1]
    while i >= 0:
        keep.add(i)
        i = parent[i]
    return [w for i, (_, w) in enumerate(order) if i not in keep]


def _has(words: frozenset[str], word: str) -> bool:
    """Whether ``word`` is in ``words``, allowing the commonest typos of a long word.

    >>> _has(frozenset({"hillary"}), "hilary"), _has(frozenset({"country"}), "county")
    (True, False)
    """
    if word in words:
        return True
    if len(word) < 6:
        return False
    key = _typo_key(word)
    return any(len(w) >= 5 and abs(len(w) - len(word)) <= 1 and _typo_key(w) == key for w in words)


def _typo_key(word: str) -> str:
    """A word with doubled letters single and its letters' order inside the word ignored."""
    single = re.sub(r"(.)\1+", r"\1", word)
    return single[0] + "".join(sorted(single[1:-1])) + single[-1]


def _stem(word: str) -> str:
    """A light stem: plural, possessive, -ing and -ed endings off (enough to match "resolutions").

    >>> [_stem(w) for w in ("resolutions", "becomes", "become", "movies", "movie", "story", "stories")]
    ['resolution', 'becom', 'becom', 'movi', 'movi', 'stori', 'stori']
    >>> [_stem(w) for w in ("boxes", "moving", "move", "created", "create", "class")]
    ['box', 'mov', 'mov', 'creat', 'creat', 'class']
    """
    if len(word) <= 3:
        return word
    if (word.endswith("ies") and len(word) > 4) or word.endswith(("sses", "xes", "ches", "shes")):
        word = word[:-2]
    elif word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    elif word.endswith("ing") and len(word) > 5:
        word = word[:-3]
    elif word.endswith("ed") and len(word) > 4:
        word = word[:-2]
    if len(word) > 3 and word[-1] in "ey":
        word = word[:-1] if word[-1] == "e" else word[:-1] + "i"
    return word


@lru_cache(maxsize=8192)
def _analyse(text: str) -> _Text:
    content: list[str] = []
    words: set[str] = set()
    numbers: list[str] = []
    names: list[str] = []
    roles: list[tuple[str, str]] = []
    negations = 0
    kind = ""
    head = ""
    quantifiers: set[str] = set()
    persons: list[tuple[str, str]] = []
    start = True  # the next word begins a sentence (its capital says nothing)
    index = 0  # the word's index in its sentence
    role = ""
    for raw in _TOKEN.findall(text):
        if raw in _BOUNDARY:
            start, index, role = True, 0, ""
            continue
        low = raw.lower().replace("\u2019", "'")
        if low.endswith("'s") and len(low) > 2:
            low = low[:-2]  # "what's", "Trump's": the word is what the checks read
        if low in ("n't", "'t") or low in _NEGATIONS or low.endswith("n't"):
            negations += 1
        if low.startswith("'") and low != "n't":
            continue  # 's, 're, 'll: nothing the checks read
        if not kind and index <= 1 and low in _WH:
            kind = _WH[low]
        elif kind == "how" and low in _HOW_MUCH and index <= 2:
            kind = "how much"
        elif not kind and index == 0 and low in _AUX:
            kind = "yes/no"
            head = _HEADS.get(low.replace("n't", "").replace("'", ""), low)
        if low in _QUANTIFIERS:
            quantifiers.add(_QUANTIFIERS[low])
        if low in _PERSONS:
            persons.append(_PERSONS[low])
        is_name = (not start and raw[0].isupper()) or (len(raw) > 1 and raw.isupper())
        start, index = False, index + 1
        number = _number(low)
        if number is not None:
            numbers.append(f"{role} {number}" if role else number)  # "before 9" is not "after 9"
            content.append(number)
            words.add(number)
            role = ""
            continue
        stem = _stem(low.replace("'", ""))
        words.add(stem)
        if low in _ROLES:
            role = _ROLES[low]
            continue
        if low in _STOPWORDS or low in _GRADING or low in _NEGATIONS or (len(low) == 1 and not is_name):
            continue
        if is_name or any(c.isdigit() for c in low):
            names.append(stem)
        if stem not in content:
            content.append(stem)
            if role:
                roles.append((stem, role))
        role = ""
    if not kind and text.rstrip().endswith("?"):
        kind = "yes/no"
    return _Text(
        quantifiers=frozenset(quantifiers),
        head=head,
        persons=tuple(persons),
        content=tuple(content),
        words=frozenset(words),
        numbers=tuple(sorted(numbers)),
        negations=negations,
        kind=kind,
        names=tuple(dict.fromkeys(names)),
        roles=tuple(roles),
    )


def _number(low: str) -> str | None:
    """A number token's canonical spelling, or ``None``.

    >>> _number("1,000"), _number("three"), _number("3rd"), _number("fifth"), _number("cat")
    ('1000', '3', '3th', '5th', None)
    """
    if low[0].isdigit():
        return _ORDINAL_SUFFIX.sub("th", low.replace(",", ""))
    return _NUMBER_WORDS.get(low)
