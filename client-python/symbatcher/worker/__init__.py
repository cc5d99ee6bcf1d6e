"""The worker role: serving expressions to a server (private modules).

- `_runtime`: `WorkerRuntime`, one `WorkerService.Work` connection;
- `_slots`: what runs the items: thread or greenlet slots;
- `_interceptor`: routes forward()'s engine calls to the worker;
- `_affinity`: the CPU a process's thread slots share;
- `_handoff`: Python objects passed between a client and a worker in one
  process, unencoded.
"""
