"""The commands: run, report, export."""
