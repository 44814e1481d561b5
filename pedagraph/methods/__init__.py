"""One home per method, named after its graph: the domain logic each graph's nodes (in `agents/`) call.

`tutor` (CLASS tutoring, MathDial-style), `tom` (Saha et al.'s Theory-of-Mind interventions), `eduplanner`
(EduPlanner lesson design), `copilot` (Tutor CoPilot with Bridge decisions), `coach` (teacher coaching) and
`distill` (strategy-teaching distillation). Plain functions of typed values: nothing here reads graph state.
"""
