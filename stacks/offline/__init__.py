"""Offline tools: run the real program under Pulumi's mock runtime and work on the plan it records."""
