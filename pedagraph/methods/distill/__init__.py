"""Strategy-teaching distillation (GER, methods.md §5): scenarios, the strategy library, judging, the coach.

A strong coach model writes strategies that fix a small tutor's behaviour on scenarios where it is weak; each
strategy is kept in the memory's `strategies` collection with its measured gain and provenance, and the tutor
retrieves the relevant ones into its prompt at run time (`TutoringContext.strategies`).
"""
