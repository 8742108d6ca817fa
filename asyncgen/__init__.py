"""asyncgen: Self-Instruct (Wang et al., ACL 2023) as an asyncio producer/consumer graph."""

__version__ = "0.1.0"
