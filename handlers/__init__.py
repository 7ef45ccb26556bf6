"""The conversation, channel-agnostic: message model, dispatcher, one module per use case."""
