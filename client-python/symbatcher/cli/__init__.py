"""The `symbatcher` command line: `main` parses the subcommand and runs its
module.

- `main`: the entry point and the subcommand table;
- `worker`: `symbatcher worker`, with `reconnect` (one worker process and its
  reconnect loop) and `supervisor` (`--processes P`);
- `run`: `symbatcher run`, the JSONL runner;
- `engine`: `symbatcher engine`, serving an engine to a server;
- `status`: `symbatcher status`;
- `connect`: the token and TLS flags every subcommand shares.
"""
