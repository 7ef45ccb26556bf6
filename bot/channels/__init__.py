"""Channel adapters: each turns its platform's payloads into `handlers.model` events and replies back."""
