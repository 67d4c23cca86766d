"""Compression of raw events into observations and session summaries (rules, llama.cpp, Claude, OpenAI-compatible)."""
