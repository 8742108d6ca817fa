"""Every file of a run directory, named once.

    OUT/
      asyncgen.json       the run record: every run that wrote here, its settings (record.py)
      .asyncgen.lock      the run's OS lock on the directory (record.py)
      tasks.jsonl         the committed tasks, one per line (novelty.pool.TaskStore)
      events.jsonl        every event of every run (observe.events)
      spend.jsonl         reservations and settlements: the money (spend.py)
      journal.jsonl       work paid for and not committed yet (journal.py)
      batches.jsonl       batches submitted to a Batch API (batch.journal)
      rescued.jsonl       answers the courier kept when the run never read them (rescue.py)
      .courier.lock       held by a run's courier until it exits (llm.transport.courier)
      fields.jsonl        similarity fields of tasks committed before theirs were ready (fields.py)
      summary.json        the folds of the files above, to resume and report fast (summary.py)

Nothing here reads or writes; the modules named above do, each the one writer of its file.
"""

from __future__ import annotations

RECORD_FILE = "asyncgen.json"
LOCK_FILE = ".asyncgen.lock"
TASKS_FILE = "tasks.jsonl"
EVENTS_FILE = "events.jsonl"
SPEND_FILE = "spend.jsonl"
JOURNAL_FILE = "journal.jsonl"
BATCHES_FILE = "batches.jsonl"
RESCUE_FILE = "rescued.jsonl"
COURIER_LOCK_FILE = ".courier.lock"
SUMMARY_FILE = "summary.json"
FIELDS_FILE = "fields.jsonl"

# files a run appends to and reads back on resume; another tool's file by one of these names
# is refused, untouched
JOURNAL_FILES: tuple[str, ...] = (TASKS_FILE, EVENTS_FILE, SPEND_FILE, BATCHES_FILE,
                                   JOURNAL_FILE, RESCUE_FILE, FIELDS_FILE)
