"""The paper's logic, pure: prompts, parsing, demonstrations, tasks and seeds."""
