"""Deterministic workflow code: the AgentRun workflow and the pure logic it runs on."""
