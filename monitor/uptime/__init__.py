"""Uptime figures: how much of a window the portal served, with unwatched and planned time left out."""
