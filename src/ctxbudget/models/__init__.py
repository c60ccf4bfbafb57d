"""The model registry: tool names and model ids -> ModelSpec (tokenizer, agent format, budget key, window)."""
