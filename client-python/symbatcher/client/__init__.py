"""The client role: `BatchScheduler` and what it drives (private modules).

- `_scheduler`: `BatchScheduler`, the original library's API;
- `_job_handle`: one call of the scheduler: its job, local slots, progress;
- `_job_stream`: a job's `BatchService.Batch` stream, credit-based;
- `_sources`: where a job's items come from (read a chunk at a time);
- `_summary`: what a job and an item report (`JobSummary`, `ItemUsage`);
- `_embedded_server`: the `symbatcher-server` child process a scheduler owns.
"""
