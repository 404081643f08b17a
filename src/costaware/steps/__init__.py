"""What a call does on its way, each step a thin layer over ``core/``: prepare (route, cap, cache
breakpoints), routing (decisions, cascades, downgrades), spend (budgets), response_cache (answers
from a cache) and its embedders."""
