"""Account webhooks: configuration, payloads, Standard Webhooks signing, SSRF-safe delivery."""
