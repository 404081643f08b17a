"""Model routing: tiers, policies, the ``auto`` classifier and cascade checks.

Pure: no SDK, no OpenTelemetry, no I/O (except :func:`load_tier_file`, which reads a tier file).

>>> tiers = ladders()                                   # DEFAULT_TIERS, COSTAWARE_TIERS, overrides
>>> kwargs = {"model": "claude-opus-4-6", "max_tokens": 200,
...           "messages": [{"role": "user", "content": "Is this review positive? 'Loved it.'"}]}
>>> route("auto", "anthropic", kwargs, tiers).chosen_model
'claude-haiku-4-5'

- :mod:`.tiers`: :class:`Tier`, :class:`TierLadder`, :func:`ladders`, :data:`DEFAULT_TIERS`.
- :mod:`.reading`: :func:`signals` reads a request's :class:`Signals` cheaply.
- :mod:`.features`: what ``auto`` reads of a request (the ask); :mod:`.lexicon`: its topic words.
- :mod:`.classifier`: :class:`AutoClassifier` (``route="auto"``, also :data:`Auto`): the fitted model
  and the ``quality`` knob.
- :mod:`.policies`: :class:`Threshold`, :class:`Labels`, :class:`ForceModel`, callables, :func:`as_policy`.
- :mod:`.router`: :func:`route`, the single entry point, and :func:`cheapest_fitting`.
- :mod:`.cascade`: :class:`Cascade`, :class:`Answer`, the checks and :func:`check`.
- :mod:`.explanation`: :func:`explain`, for ``costaware explain "<prompt>"``.
"""

from costaware.core.routing.cascade import (
    DEFAULT_CHECKS,
    Answer,
    Cascade,
    Check,
    ToolCall,
    check,
    empty_answer,
    failed_tool_call,
    invalid_json,
    parse_json_answer,
    refusal,
    schema_mismatch,
    truncated,
)
from costaware.core.routing.classifier import (
    DEFAULT_QUALITY,
    Auto,
    AutoClassifier,
    AutoModel,
    Contribution,
)
from costaware.core.routing.decision import Choice, Decision, Policy, RouteRequest
from costaware.core.routing.explanation import explain
from costaware.core.routing.policies import (
    CallablePolicy,
    ForceModel,
    Labels,
    RoutePolicy,
    Threshold,
    as_policy,
)
from costaware.core.routing.reading import Signals, requested_json, signals
from costaware.core.routing.router import cheapest_fitting, route
from costaware.core.routing.schema import schema_error
from costaware.core.routing.tiers import (
    DEFAULT_TIERS,
    TIERS_ENV,
    Ladders,
    Tier,
    TierLadder,
    ladders,
    load_tier_file,
    provider_of_model,
)

__all__ = [
    "DEFAULT_CHECKS",
    "DEFAULT_QUALITY",
    "DEFAULT_TIERS",
    "TIERS_ENV",
    "Answer",
    "Auto",
    "AutoClassifier",
    "AutoModel",
    "CallablePolicy",
    "Cascade",
    "Check",
    "Choice",
    "Contribution",
    "Decision",
    "ForceModel",
    "Labels",
    "Ladders",
    "Policy",
    "RoutePolicy",
    "RouteRequest",
    "Signals",
    "Threshold",
    "Tier",
    "TierLadder",
    "ToolCall",
    "as_policy",
    "cheapest_fitting",
    "check",
    "empty_answer",
    "explain",
    "failed_tool_call",
    "invalid_json",
    "ladders",
    "load_tier_file",
    "parse_json_answer",
    "provider_of_model",
    "refusal",
    "requested_json",
    "route",
    "schema_error",
    "schema_mismatch",
    "signals",
    "truncated",
]
