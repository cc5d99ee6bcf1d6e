"""The client role: `BatchScheduler` and what it drives (private modules).

- `_scheduler`: `BatchScheduler`, the original library's API;
- `_call_arguments`: checks of its arguments made before anything is sent;
- `_scheduler_resources`: what a scheduler owns and releases;
- `_event_loops`: the loop its jobs run on (its own, or the caller's);
- `_job_handle`: `JobHandle`, what one call of the scheduler drives: the
  job's stream, the local worker slots serving it, its progress bar;
- `_job_stream`: `JobStream`, the client's side of one job: its
  `BatchService.Batch` stream, with credit-based flow control;
- `_job_options`: `JobOptions`, a job's settings as its JobSpec carries them;
- `_sources`: where a job's items come from (read a chunk at a time);
- `_summary`: what a job and an item report (`JobSummary`, `ItemUsage`);
- `_embedded_server`: the `symbatcher-server` child process a scheduler owns.
"""
