"""What the run tells: events (configuration and names) and prompt-cache usage."""
