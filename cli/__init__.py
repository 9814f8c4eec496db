"""The `conveyor` command line: parse, call the engine or the views, render."""
