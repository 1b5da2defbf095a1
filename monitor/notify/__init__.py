"""Telling people: a channel interface (render pure, send with permanent/transient errors) and Slack behind it."""
