"""Seesay's engine: find, verify, load and quantize Gemma 4 (encoder-free) and stream answers.

Plain Python: no Qt here, so a script or the CLI can use it as well as the desktop app.
"""
