"""Bark Studio as a Python library: `bark_studio.suno` is Suno's bark API on this project's engine."""
