"""Webhooks as the Standard Webhooks specification describes them: subscriptions, an outbox
written with each change, and a delivery loop that signs, sends and retries."""
