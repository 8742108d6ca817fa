"""Batch mode (`asyncgen run --batch`): the stages' requests go through a provider's Batch API.

    lines.py     input lines out, output and error file lines in (pure)
    api.py       the Batch API over HTTP (files, batches), faults mapped at one boundary;
                 OpenAI's dialect of submit / find / results
    openrouter.py  OpenRouter's dialect: inline requests, results inline or paged
    journal.py   OUT/batches.jsonl: what was planned, uploaded, submitted and collected
    client.py    BatchClient: `complete()` like LLMClient's, gathered into batches by size and
                 age, polled, collected, retried; budget reserved per batch
"""

from asyncgen.batch.client import BatchClient
from asyncgen.batch.flights import BatchSettings
from asyncgen.batch.journal import BatchJournal

__all__ = ["BatchClient", "BatchJournal", "BatchSettings"]
