"""The application layer: CodePipeline's commands as load, command, save, one module per area."""
