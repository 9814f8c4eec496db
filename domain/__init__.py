"""Conveyor's pure model: definitions, aggregates, events and the stage planner."""
