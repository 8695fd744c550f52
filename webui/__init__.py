"""Bark Studio's web app: Gradio tabs over core/ and cloning/ (see app.create_app)."""
