"""Tutoring logic as plain functions of typed inputs.

Diagnosis of a learner turn, the CLASS policy, the reveal rules, course material and the deterministic replies.
Graph nodes (in `agents/`) call these; nothing here reads graph state or writes to a store.
"""
