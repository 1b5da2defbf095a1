"""Slack: Block Kit messages (render.py, pure) sent through the Web API (channel.py)."""
