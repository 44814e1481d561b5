"""Teaching a student model (Saha et al. 2023): items, prompts of student and teacher, calibration, experiments."""
