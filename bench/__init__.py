"""Benchmarks: measured speed and memory of every path a user of Seesay waits on.

Run ``python -m bench --quick`` (see bench/README.md for what each figure means and how to read
the table). One module per group of figures: decode, decode_head, prefill, voice, drafter, load,
capture, gui; models builds the checkpoints; report prints the table and writes the JSON.
"""
