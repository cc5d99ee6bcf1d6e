"""The worker role: serving expressions to a server (private modules).

- `_runtime`: `WorkerRuntime`, one `WorkerService.Work` connection;
- `_served_job`: `ServedJob`, a job as a worker serves it (its JobInfo,
  kwargs, and the Expression instance its slots share);
- `_slots`: what slots are (`Slots`, `ItemRunner`, `ReplyBox`);
- `_thread_slots`, `_greenlet_slots`: the two kinds of slots;
- `_slot_kinds`: the kinds `slots=` accepts, and `make_slots`;
- `_interceptor`: routes forward()'s engine calls to the worker;
- `_affinity`: the CPU a process's thread slots share;
- `_handoff`: `JobObjects`, the Python objects of a job whose client runs
  in this process, which its workers there take unencoded.
"""
