"""The agent: lambda-returns, actor-critic losses, imagination in a world model, its training component."""
