"""Provider knowledge lives in the adapters: no module outside ``providers/``, the simulator and the
configuration defaults names a provider, so adding one touches the files the README lists."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

from costaware.providers import ADAPTERS, PROVIDERS

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "costaware"

ALLOWED = {
    "providers/": "the adapters",
    "sim/": "the simulator's wire formats",
    "core/routing/tiers.py": "each provider's default tier ladder, and telling a model id's provider",
    "core/types.py": "the Provider type",
    "core/pricing.py": "genai-prices' provider ids and Anthropic's documented cache multipliers",
}


def _string_literals(path: Path) -> list[tuple[int, str]]:
    found = []
    for token in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):
                continue  # f-strings
            if isinstance(value, str):
                found.append((token.start[0], value))
    return found


def test_only_adapters_and_defaults_name_a_provider() -> None:
    leaks = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if any(relative.startswith(prefix) for prefix in ALLOWED):
            continue
        leaks += [
            f"{relative}:{line}: {value!r}" for line, value in _string_literals(path) if value in PROVIDERS
        ]
    assert leaks == []


def test_the_check_would_see_a_leak(tmp_path: Path) -> None:
    leaky = tmp_path / "leaky.py"
    leaky.write_text('if provider == "anthropic":\n    pass\n"""A docstring naming openai is fine."""\n')
    assert [value for _, value in _string_literals(leaky) if value in PROVIDERS] == ["anthropic"]


def test_every_adapter_declares_what_budgets_and_caching_need() -> None:
    for adapter in ADAPTERS:
        chat = [t.endpoint for t in adapter.targets() if t.endpoint.operation == "chat"]
        assert chat, adapter.PROVIDER
        for endpoint in chat:
            assert endpoint.provider == adapter.PROVIDER
            assert endpoint.prompt_fields, endpoint  # else budgets count every argument
            assert endpoint.output_cap_fields, endpoint  # else a budget cannot bound the output
