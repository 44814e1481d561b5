"""Tutor CoPilot (Wang et al. 2024) and Bridge's decision model (Wang et al., NAACL 2024) for the `copilot` graph."""
