"""What an LLM call cost, in US dollars: the LLM_PRICES override for the model when there is
one (private or self-hosted models), else the price table of `genai-prices` (a well-kept table
of the public providers' prices, matched by the endpoint's URL, then by the model's name);
None when neither knows the model."""

from __future__ import annotations

from collections.abc import Mapping

from genai_prices import Usage, calc_price

from agentic.core.metrics import ModelPrice


def call_cost(
    model: str,
    base_url: str,
    prompt_tokens: int,
    completion_tokens: int,
    overrides: Mapping[str, ModelPrice] | None = None,
) -> float | None:
    """The cost of one call's tokens, or None when the model's price is not known."""
    override = (overrides or {}).get(model)
    if override is not None:
        return override.cost(prompt_tokens, completion_tokens)
    usage = Usage(input_tokens=prompt_tokens, output_tokens=completion_tokens)
    # A proxy or a local server has a URL no provider has: the model's name may still match.
    for provider_api_url in (base_url, None):
        try:
            priced = calc_price(usage, model_ref=model, provider_api_url=provider_api_url)
        except LookupError:
            continue
        return float(priced.total_price)
    return None
