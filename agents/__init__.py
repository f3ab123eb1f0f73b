"""The LLM side: one client for OpenAI-compatible APIs, the planner's and the analyst's prompts."""
