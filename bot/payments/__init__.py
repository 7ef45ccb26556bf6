"""Payment providers (bKash Tokenized Checkout; Telegram Stars lives with the Telegram adapter)."""
