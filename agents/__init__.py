"""Agents, one module per role (teacher, student, evaluator, coach, planner)."""
