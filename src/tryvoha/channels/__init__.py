"""Ways out of the hub: webhooks, MQTT, streams; each follows the committed log."""
