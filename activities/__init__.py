"""Everything that touches the world. `all_activities` is what the worker registers."""
