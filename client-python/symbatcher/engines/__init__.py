"""The engines role: engines served from Python, and the embedded server's
own (private modules).

- `_batch_engine`: `BatchEngine` and `EngineCall`, and running one engine
  batch through it;
- `_engine_connection`: `EngineConnection`, one `EngineService.Serve` stream
  serving a `BatchEngine`;
- `_engine_process`: `EngineProcess`, a `SymaiEngine(process=True)` served
  from a process of its own (`_engine_process_main`, that process's entry);
- `_serve_engine`: `serve_engine`, which keeps one connected (waits for the
  server, reconnects with backoff);
- `_symai_engine`: `SymaiEngine`, symai's own engine as a `BatchEngine`;
- `_symai_embedding_engine`: `SymaiEmbeddingEngine`, symai's own embedding
  engine as a `BatchEngine` of embedding calls (a batch: one list input);
- `_server_engines`: settings of the embedded server's engines (echo,
  OpenAI, OpenAI Batch API) as its flags;
- `_default_engine`: which engine answers when none is named;
- `_local_calls`: symai call objects that stay in this process;
- `_system_prompt`: the system message symai's chat engines would send;
- `_thread_pools`: thread pools sized by a limit or by the work they get.
"""
