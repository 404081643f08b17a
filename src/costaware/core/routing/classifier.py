"""``route="auto"``: a model fitted on real prompts reads the ask and says how likely it is to be hard.

How it decides
--------------
1. :func:`~costaware.core.routing.features.asks` takes the request's asks: the last user turn (of a
   long one, its head and tail), and the conversation's first and previous user turns. The system
   prompt, a pasted document's middle and tool results are not read.
2. Each ask becomes features (words, topics such as code or math, shapes such as formulas or code
   lines: :mod:`~costaware.core.routing.features`), and a logistic model gives ``p``, the probability
   that the ask is a hard one. A conversation is as hard as its hardest ask, so a follow-up ("now make
   it faster") keeps the difficulty of the coding question it follows.
3. ``p`` picks the tier. One knob, ``quality`` (0 to 1, default :data:`DEFAULT_QUALITY`), trades cost
   for quality: the first tier above the cheapest takes asks with ``p >= 1 - quality``, the ladder's
   top tier those with ``p >= 1 - LARGE_SHARE * quality**12``, tiers in between are spaced evenly. Higher
   quality sends more to dearer tiers, never fewer. ``thresholds={"medium": 0.3, ...}`` sets the
   cut-offs by hand instead.

The weights ship with the package (``auto_weights.json``) and load on first use; ``scripts/fit_auto.py``
fits them on the labelled real prompts of ``routing-dev`` and prints the held-out figures (its
docstring has the method). A file fitted on your own prompts can be given as ``weights=``.

What it does not read: tools offered, images, the output format and ``max_tokens`` do not move ``p``
(the labelled prompts have none of them, so no weight for them could be fitted).

>>> auto = AutoClassifier()
>>> round(auto.probability("Prove that there are infinitely many primes."), 2) > 0.5
True
>>> round(auto.probability("Play some jazz in the kitchen"), 2) < 0.5
True
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from costaware.core.errors import ConfigurationError
from costaware.core.routing.decision import Choice, RouteRequest
from costaware.core.routing.features import ask_text, asks, features, is_dense
from costaware.core.routing.tiers import TierLadder

__all__ = [
    "DEFAULT_QUALITY",
    "LARGE_SHARE",
    "WEIGHTS_FILE",
    "Assessment",
    "Auto",
    "AutoClassifier",
    "AutoModel",
    "Contribution",
    "assess",
    "cutoffs_for",
]

DEFAULT_QUALITY = 0.56
"""Chosen from the held-out curve (``scripts/fit_auto.py``): at least 85% of hard prompts go to a
non-cheap tier and at least 80% of easy prompts stay cheap, with a margin on both (86.2% and 82.3%,
leave-one-source-out)."""
LARGE_SHARE = 0.01
"""The ladder's top tier takes asks with ``p >= 1 - LARGE_SHARE * quality**12``: 0.99999 at the default
(almost never), 0.9999 at 0.7, 0.9993 at 0.8, 0.99 at 1. The labelled prompts only tell hard from easy,
and every hard one is answered well by the middle tier (the label oracle the benchmarks compare with sends
them all there), so nothing justifies paying for the top tier by default; higher settings of ``quality``
send it the most certainly hard asks (mostly long code)."""
WEIGHTS_FILE = Path(__file__).with_name("auto_weights.json")
_EXPLAINED = 3  # features named in a decision's reason


def cutoffs_for(quality: float, tiers: int) -> tuple[float, ...]:
    """The minimum ``p`` of each tier above the cheapest, on a ladder of ``tiers`` tiers.

    >>> cutoffs_for(0.6, 3)
    (0.4, 0.999978)
    """
    steps = tiers - 1
    if steps <= 0:
        return ()
    low, high = 1.0 - quality, 1.0 - LARGE_SHARE * quality**12
    if steps == 1:
        return (round(low, 6),)
    return tuple(round(low + (high - low) * i / (steps - 1), 6) for i in range(steps))


@dataclass(frozen=True, slots=True)
class Contribution:
    """One feature's share of an ask's score (log-odds points), and what it is."""

    rule: str
    points: float
    detail: str


@dataclass(frozen=True)
class AutoModel:
    """Fitted weights: ``bias``, word and symbol weights (summed, scaled by ``1/sqrt(count)``) and
    topic and shape weights (summed in full). Built by :meth:`load` from a weights file."""

    bias: float
    words: Mapping[str, float]
    dense: Mapping[str, float]
    source: str = ""
    _word_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _dense_keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _described: Mapping[str, str] = field(init=False, repr=False, compare=False)

    @classmethod
    def load(cls, path: str | Path | None = None) -> AutoModel:
        """Read a weights file written by ``scripts/fit_auto.py`` (default: the shipped one).
        Raises ConfigurationError, naming the file, if it is missing or malformed."""
        target = Path(path) if path is not None else WEIGHTS_FILE
        try:
            document = json.loads(target.read_text(encoding="utf-8"))
            bias = float(document["bias"])
            weights = {str(k): float(v) for k, v in document["weights"].items()}
        except FileNotFoundError:
            hint = "reinstall costaware" if path is None else "fit one with scripts/fit_auto.py"
            raise ConfigurationError(f"route='auto': weights file {target} not found ({hint})") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigurationError(
                f"route='auto': weights file {target} is not a weights file ({type(exc).__name__}: {exc})"
            ) from None
        if not all(map(math.isfinite, (bias, *weights.values()))):
            raise ConfigurationError(f"route='auto': weights file {target} holds a non-finite weight")
        return cls(
            bias,
            MappingProxyType({k: v for k, v in weights.items() if not is_dense(k)}),
            MappingProxyType({k: v for k, v in weights.items() if is_dense(k)}),
            str(target),
        )

    def __post_init__(self) -> None:
        # frozensets: a set's intersection with one walks the smaller side, in C
        object.__setattr__(self, "_word_keys", frozenset(self.words))
        object.__setattr__(self, "_dense_keys", frozenset(self.dense))
        described = {f: _describe(f) for f in (*self.words, *self.dense)}
        object.__setattr__(self, "_described", MappingProxyType(described))

    def score(self, found: AbstractSet[str]) -> float:
        """The log-odds that an ask with these features is hard."""
        hits = found & self._word_keys
        total = self.bias + sum(map(self.dense.__getitem__, found & self._dense_keys))
        if not hits:
            return total
        return total + sum(map(self.words.__getitem__, hits)) / math.sqrt(len(hits))

    def contributions(self, found: AbstractSet[str]) -> list[Contribution]:
        """Every feature's points in :meth:`score`, largest first (by size)."""
        words = found & self._word_keys
        scale = 1.0 / math.sqrt(len(words)) if words else 0.0
        points = [(self.words[f] * scale, f) for f in words]
        points += [(self.dense[f], f) for f in found & self._dense_keys]
        return [Contribution(f, p, _describe(f)) for _, f, p in _ranked(points)]

    def reason(self, found: AbstractSet[str], count: int) -> str:
        """The ``count`` largest of the topic and shape contributions and of the strongest word each
        way, as a decision's reason names them ("topic code +1.98, word the -0.36"): cheaper than
        ranking every word, on every call."""
        words = found & self._word_keys
        points = [(self.dense[f], f) for f in found & self._dense_keys]
        if words:
            scale, weight = 1.0 / math.sqrt(len(words)), self.words.__getitem__
            points += [(weight(f) * scale, f) for f in {max(words, key=weight), min(words, key=weight)}]
        described = self._described
        return ", ".join([f"{described[f]} {p:+.2f}" for _, f, p in _ranked(points)[:count]])


def _ranked(points: list[tuple[float, str]]) -> list[tuple[float, str, float]]:
    """``(rank, feature, points)``, largest points first (by size), then by feature."""
    return sorted([(-abs(p), f, p) for p, f in points])


_models: dict[str, AutoModel] = {}
_models_lock = threading.Lock()


def _model(path: str | Path | None) -> AutoModel:
    key = str(path) if path is not None else ""
    found = _models.get(key)
    if found is None:
        with _models_lock:
            found = _models.get(key)
            if found is None:
                found = _models[key] = AutoModel.load(path)
    return found


def _describe(feature: str) -> str:
    kind, _, name = feature.partition(":")
    if not name:
        return f"word {kind}"
    return {"p": "symbol", "g": "topic", "s": "shape"}.get(kind, kind) + f" {name}"


def _sigmoid(score: float) -> float:
    if score >= 0:
        return 1.0 / (1.0 + math.exp(-score))
    odds = math.exp(score)
    return odds / (1.0 + odds)


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the model made of a request: ``p`` (probability that it is hard), which ask decided it
    (0 the last user turn, 1 the first, 2 the one before the last; -1 none) and that ask's features."""

    p: float
    ask: int
    features: AbstractSet[str]


def assess(model: AutoModel, kwargs: Mapping[str, object]) -> Assessment:
    """Score a request's asks (:func:`~costaware.core.routing.features.asks`); the hardest decides.

    Of a long message only one end paragraph is scored
    (:func:`~costaware.core.routing.features.ask_text`).
    """
    best: tuple[float, int, set[str]] | None = None
    for index, parts in enumerate(asks(kwargs)):
        found = features(ask_text(parts))
        score = model.score(found)
        if best is None or score > best[0]:
            best = (score, index, found)
    if best is None:
        return Assessment(0.0, -1, frozenset())
    return Assessment(_sigmoid(best[0]), best[1], best[2])


@dataclass(frozen=True)
class AutoClassifier:
    """``route="auto"``: sends an ask to the cheapest tier unless it is likely hard (module docstring).

    ``quality`` (0 to 1) is the one knob: higher sends more asks to dearer tiers.
    ``thresholds`` maps tier names to the minimum probability of "hard" for that tier, instead of the
    cut-offs ``quality`` gives. ``weights`` is a weights file fitted with ``scripts/fit_auto.py``
    (default: the shipped one); it is read on first use and by :meth:`validate`.

    >>> AutoClassifier(quality=0.8).cutoffs(3)
    (0.2, 0.999313)
    """

    quality: float = DEFAULT_QUALITY
    thresholds: Mapping[str, float] | None = None
    weights: str | Path | None = None
    _model: list[AutoModel] = field(default_factory=list, init=False, repr=False, compare=False)
    _tables: dict[int, tuple[TierLadder, tuple[tuple[str, float], ...], float]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not _finite(self.quality) or not 0.0 <= self.quality <= 1.0:
            raise ConfigurationError(
                f"AutoClassifier quality must be a number from 0 to 1, got {self.quality!r}"
            )
        if self.thresholds is not None:
            if not isinstance(self.thresholds, Mapping) or not self.thresholds:
                raise ConfigurationError("AutoClassifier thresholds must map tier names to probabilities")
            for name, value in self.thresholds.items():
                if not isinstance(name, str) or not _finite(value) or not 0.0 <= value <= 1.0:
                    raise ConfigurationError(
                        f"AutoClassifier threshold {name!r}: {value!r} is not a probability from 0 to 1"
                    )
            object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))
        if self.weights is not None and not isinstance(self.weights, (str, Path)):
            raise ConfigurationError(f"AutoClassifier weights must be a file path, got {self.weights!r}")

    @property
    def name(self) -> str:
        return "auto"

    @property
    def model(self) -> AutoModel:
        """The fitted weights, read on first use. Raises ConfigurationError if they cannot be read."""
        if not self._model:
            self._model.append(_model(self.weights))
        return self._model[0]

    def cutoffs(self, tiers: int) -> tuple[float, ...]:
        """The minimum ``p`` of each tier above the cheapest on a ladder of ``tiers`` tiers."""
        return cutoffs_for(self.quality, tiers)

    def probability(self, text: str) -> float:
        """The probability that ``text``, asked as one user turn, is a hard ask."""
        return assess(self.model, {"messages": [{"role": "user", "content": text}]}).p

    def explain(self, request: RouteRequest) -> tuple[float, int, list[Contribution]]:
        """``(p, which ask decided it, every contribution to that ask's score)``: for explanations."""
        found = assess(self.model, request.kwargs)
        return found.p, found.ask, self.model.contributions(found.features)

    def cut_table(self, ladder: TierLadder) -> tuple[tuple[str, float], ...]:
        """``(tier name, minimum p)`` for each tier of ``ladder`` above the cheapest that has one,
        dearest first (worked out once per ladder)."""
        return self._table(ladder)[0]

    def _table(self, ladder: TierLadder) -> tuple[tuple[tuple[str, float], ...], float]:
        """:meth:`cut_table` and its lowest cut-off (1 when it is empty), worked out once per ladder."""
        cached = self._tables.get(id(ladder))
        if cached is not None and cached[0] is ladder:
            return cached[1], cached[2]
        if self.thresholds is not None:
            named = [(t.name, self.thresholds.get(t.name)) for t in ladder.tiers[1:]]
        else:
            names = (t.name for t in ladder.tiers[1:])
            named = list(zip(names, self.cutoffs(len(ladder.tiers)), strict=True))
        table = tuple((name, cut) for name, cut in reversed(named) if cut is not None)
        lowest = min((cut for _, cut in table), default=1.0)
        if len(self._tables) < 64:
            self._tables[id(ladder)] = (ladder, table, lowest)
        return table, lowest

    def tier_for(self, p: float, ladder: TierLadder) -> tuple[str, float | None]:
        """The dearest tier of ``ladder`` whose cut-off ``p`` reaches, and that cut-off (``None``: the
        cheapest tier, reached by every ``p``). A cut-off of 1 is never reached, one of 0 always."""
        for name, cutoff in self.cut_table(ladder):
            if cutoff < 1.0 and p >= cutoff:
                return name, cutoff
        return ladder.tiers[0].name, None

    def choose(self, request: RouteRequest) -> Choice:
        if request.ladder is None:
            return Choice(None, f"no tier ladder for {request.provider}")
        model = self.model
        found = assess(model, request.kwargs)
        if found.ask < 0:
            return Choice(None, "no user text to read: requested model kept")
        p = found.p
        tier, cutoff = self.tier_for(p, request.ladder)
        if cutoff is None:
            verdict = f"p(hard) {p:.6g} < {self._table(request.ladder)[1]:.6g}: cheapest tier"
        else:
            verdict = f"p(hard) {p:.6g} >= {cutoff:.6g}: {tier}"
        turn = "" if found.ask == 0 else " (from an earlier turn of the conversation)"
        why = model.reason(found.features, _EXPLAINED)
        return Choice(tier, f"{verdict}{turn}; {why}" if why else verdict + turn, (("p_hard", round(p, 4)),))

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        """Reads the weights (a missing file fails here, at configuration time); thresholds, if given,
        must name tiers of every ladder and rise with its order."""
        self.model  # noqa: B018 - loads and checks the weights file
        if self.thresholds is None:
            return
        for provider, ladder in ladders.items():
            missing = [name for name in self.thresholds if ladder.tier_named(name) is None]
            if missing:
                raise ConfigurationError(
                    f"AutoClassifier thresholds name unknown tier(s) {missing} for {provider} "
                    f"(its ladder has {', '.join(ladder.names)})"
                )
            ordered = [self.thresholds[n] for n in ladder.names if n in self.thresholds]
            if ordered != sorted(ordered):
                raise ConfigurationError(
                    f"AutoClassifier thresholds must rise with the {provider} ladder's order "
                    f"({', '.join(ladder.names)}), got {dict(self.thresholds)}"
                )


Auto = AutoClassifier
"""``Auto(quality=0.7)``: the short name of :class:`AutoClassifier`."""


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
