"""Embedding calls through symbatcher (`Symbol.embed` in forward()): the
server's `openai-embeddings` engine against the loopback fake of OpenAI's
embeddings API merges every item's calls into few requests, and each item
gets exactly the vectors symai's own OpenAI embedding engine returns from
the same fake; a job gets a chat and an embedding engine at once; a job
without an embedding engine gets symai's own, served from the scheduler's
process, and fails the item, naming the kind, when symai has none."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI
from symai import Expression, Symbol
from symai.functional import EngineRepository

from symbatcher import BatchScheduler, EngineError, OpenAIEmbeddingEngine, OpenAIEngine


class Embed(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).embed(**kwargs).value


class EmbedThenAsk(Expression):
    def forward(self, input, **kwargs):
        vector = Symbol(input).embed().value
        answer = Symbol(input).query("Answer briefly").value
        return {"dims": len(vector[0]), "answer": answer}


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@contextlib.contextmanager
def symai_embedding_engine(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """symai's own OpenAI embedding engine, sending to `fake`, is symai's
    `embedding` engine inside the block."""
    from symai.backend.engines.embedding.openai import engine as module

    monkeypatch.setattr(module, "OPENAI_EMBEDDINGS_URL", f"{fake.base_url}/embeddings")
    engine = module.EmbeddingEngine(api_key="test-key", model="text-embedding-3-small")
    engines = EngineRepository()._engines
    before = engines.get("embedding")
    engines["embedding"] = engine
    try:
        yield
    finally:
        if before is None:
            engines.pop("embedding", None)
        else:
            engines["embedding"] = before


@contextlib.contextmanager
def no_symai_embedding_engine() -> Iterator[None]:
    """symai has no embedding engine inside the block."""
    engines = EngineRepository()._engines
    before = engines.pop("embedding", None)
    import symbatcher.worker._embedding_interceptor as interceptor

    real = interceptor._resolve_symai_engine
    interceptor._resolve_symai_engine = lambda proxy: None  # type: ignore[assignment]
    try:
        yield
    finally:
        interceptor._resolve_symai_engine = real  # type: ignore[assignment]
        engines.pop("embedding", None)
        if before is not None:
            engines["embedding"] = before


def embedding_engine(fake: FakeOpenAI, **settings: object) -> OpenAIEmbeddingEngine:
    return OpenAIEmbeddingEngine(fake.base_url, "text-embedding-3-small", api_key_env=None, **settings)  # type: ignore[arg-type]


def test_items_get_symais_own_vectors_from_few_merged_requests(fake, monkeypatch):
    items = [f"text number {i}" for i in range(300)]
    with symai_embedding_engine(fake, monkeypatch):
        expected = [Embed().forward(item) for item in items]
        expected_cut = [Embed().forward(item, new_dim=3) for item in items[:20]]
        own_requests = len(fake.embedding_arrivals())
        with BatchScheduler(embedding_engine=embedding_engine(fake), cache="off") as scheduler:
            results = scheduler(Embed, num_workers=100, dataset=items, batch_size=100)
            summary = scheduler.last_summary
            cut = scheduler(Embed, num_workers=20, dataset=items[:20], batch_size=20, new_dim=3)
    assert own_requests == 320, "symai's own engine sends one request per embed"
    assert results == expected
    assert cut == expected_cut
    requests = fake.embedding_arrivals()[own_requests:]
    texts = [text for r in requests for text in r.body["input"]]
    assert sorted(texts) == sorted(items + items[:20])
    assert all("new_dim" not in r.body for r in requests)
    # 320 calls in batches of up to 100: at least ten calls a request (a
    # batch leaves early while slots are still starting; tests/
    # embeddings_engine.rs holds the exact bound for 10,000 calls).
    assert len(requests) <= 32, [len(r.body["input"]) for r in requests]
    assert summary is not None
    assert summary.embedding_engine == "openai-embeddings"
    assert summary.engine_calls == summary.embedding_calls == 300
    assert summary.prompt_tokens == 3 * 300  # three words each, as the fake counts


def test_one_forward_embeds_and_queries_with_an_engine_of_each_kind(fake):
    chat = OpenAIEngine(fake.base_url, "fake-1", api_key_env=None)
    with BatchScheduler(engine=chat, embedding_engine=embedding_engine(fake)) as scheduler:
        results = scheduler(EmbedThenAsk, num_workers=8, dataset=["a", "b", "c"], batch_size=8)
        summary = scheduler.last_summary
    assert [r["dims"] for r in results] == [8, 8, 8]
    assert all(r["answer"].startswith("reply to: ") for r in results)
    assert summary is not None
    assert (summary.engine, summary.embedding_engine) == ("openai", "openai-embeddings")
    assert "embedding engine openai-embeddings" in summary.describe()
    # Each kind of call counted on its own.
    assert (summary.engine_calls, summary.chat_calls, summary.embedding_calls) == (6, 3, 3)
    assert "6 engine calls (3 chat, 3 embedding) in " in summary.describe()
    # Each item's text is embedded once (in one to three requests, as the
    # items' runs start together or not) and each item asks once.
    texts = sorted(t for a in fake.embedding_arrivals() for t in a.body["input"])
    assert texts == ["a", "b", "c"]
    assert len(fake.chat_arrivals()) == 3


def test_without_an_embedding_engine_symais_own_is_served_from_this_process(fake, monkeypatch):
    with symai_embedding_engine(fake, monkeypatch), BatchScheduler(engine="echo") as scheduler:
        results = scheduler(Embed, num_workers=4, dataset=["x y", "z"], batch_size=4)
        summary = scheduler.last_summary
    assert [len(r[0]) for r in results] == [8, 8]
    assert sorted(t for a in fake.embedding_arrivals() for t in a.body["input"]) == ["x y", "z"]
    # Merged into one list input or not, as the two runs' calls meet (see
    # test_symai_embedding_engine.py for the merging).
    assert summary is not None and summary.embedding_engine == "symai:EmbeddingEngine:text-embedding-3-small"
    assert summary.embedding_calls == 2


def test_without_any_embedding_engine_the_item_fails_naming_the_kind():
    with no_symai_embedding_engine(), BatchScheduler(engine="echo") as scheduler:
        [result] = scheduler(Embed, num_workers=1, dataset=["x"], batch_size=1)
    assert isinstance(result, EngineError)
    text = str(result)
    assert "no engine for embedding calls" in text
    assert "BatchScheduler(embedding_engine=...)" in text


def test_embedding_engine_settings_are_checked_and_become_a_config_table():
    with pytest.raises(ValueError, match="base_url"):
        OpenAIEmbeddingEngine("ftp://x")
    with pytest.raises(TypeError, match="max_inputs"):
        OpenAIEmbeddingEngine(max_inputs="many")  # type: ignore[arg-type]
    toml = OpenAIEmbeddingEngine("http://h/v1", rpm=60, max_inputs=100).engine_toml()
    assert 'default_embedding_engine = "openai-embeddings"' in toml
    assert 'kind = "openai-embeddings"' in toml
    assert "rpm = 60" in toml and "max_inputs = 100" in toml
    with pytest.raises(TypeError, match="embedding_engine"):
        BatchScheduler(embedding_engine=3)  # type: ignore[arg-type]
