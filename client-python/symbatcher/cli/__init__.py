"""The `symbatcher` command line: `main` parses the subcommand and runs its
module.

- `main`: the entry point and the subcommand table;
- `worker`: `symbatcher worker`, with `reconnect` (one worker process and its
  reconnect loop) and `supervisor` (`--processes P`);
- `run`: `symbatcher run`, the file runner, a package: `arguments` (its
  flags), `inputs` (JSONL, CSV, Parquet and saved-dataset readers),
  `outputs` (result records, the JSONL output), `tables` (CSV and Parquet
  outputs, their journal and merge), `resume` (the indices done),
  `fingerprint` (OUT.symbatcher.json), `loop` (the job, progress, Ctrl-C);
- `engine`: `symbatcher engine`, serving an engine to a server;
- `status`: `symbatcher status`;
- `connect`: the token and TLS flags every subcommand shares.
"""
