"""The command layer: typer commands that call the library and render its results."""
