"""The service's HTTP side: CodePipeline's JSON 1.1 API, and later the console and webhooks."""
