"""Teacher coaching (Wang & Demszky 2023) for the `coach` graph: transcripts, scores, moments, suggestions."""
