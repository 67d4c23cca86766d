"""Test support: a local Anthropic Messages API server and Claude Code CLI helpers."""
