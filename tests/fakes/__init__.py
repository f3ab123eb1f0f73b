"""Test fakes: local HTTP servers that stand in for an LLM provider and for external APIs."""
