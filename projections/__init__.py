"""Read models built only from events: state, history, billing, audit."""
