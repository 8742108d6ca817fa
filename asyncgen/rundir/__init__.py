"""The run directory: its layout, record and lock, the journals, rescue, summary, checkpoint."""
