"""symai's own embedding engine served from the scheduler's process
(`SymaiEmbeddingEngine`), the default for embedding calls when the server
has no embedding engine: the server merges every item's embedding calls
into engine batches, and each batch reaches symai's OpenAI embedding engine
(pointed at the loopback fake of OpenAI's embeddings API) as one list
input, cut at `max_inputs`; every item gets exactly the vectors symai's own
engine gives it without symbatcher. An engine not known to take a list
answers one call at a time; inputs that are not text stay in the slot."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import pytest
from fake_openai import FakeOpenAI, embedding_of
from symai import Expression, Symbol
from symai.backend.base import Engine
from symai.functional import EngineRepository

from symbatcher import BatchScheduler, SymaiEmbeddingEngine

MODEL = "text-embedding-3-small"


class Embed(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).embed(**kwargs).value


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@contextlib.contextmanager
def registered(engine: Engine) -> Iterator[Engine]:
    """`engine` is symai's `embedding` engine inside the block."""
    engines = EngineRepository()._engines
    before = engines.get("embedding")
    engines["embedding"] = engine
    try:
        yield engine
    finally:
        if before is None:
            engines.pop("embedding", None)
        else:
            engines["embedding"] = before


def symai_openai_engine(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """symai's own OpenAI embedding engine, sending to `fake`."""
    from symai.backend.engines.embedding.openai import engine as module

    monkeypatch.setattr(module, "OPENAI_EMBEDDINGS_URL", f"{fake.base_url}/embeddings")
    return module.EmbeddingEngine(api_key="test-key", model=MODEL)


class TextLengths(Engine):  # type: ignore[misc]  # symai is untyped
    """A registered embedding engine of a user's: each text's vector is
    [its length, its number of words]. It records each forward()'s input."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[object] = []
        self._lock = threading.Lock()

    def id(self) -> str:
        return "embedding"

    def prepare(self, argument):
        argument.prop.prepared_input = argument.prop.entries

    def forward(self, argument):
        texts = argument.prop.prepared_input
        with self._lock:
            self.inputs.append(list(texts))
        return [[[float(len(t)), float(len(t.split()))] for t in texts]], {}


def test_each_engine_batch_reaches_symais_engine_as_one_list_input(fake, monkeypatch):
    items = [f"text number {i}" for i in range(300)]
    with registered(symai_openai_engine(fake, monkeypatch)):
        expected = [Embed().forward(item) for item in items]
        expected_cut = [Embed().forward(item, new_dim=3) for item in items[:20]]
        own = len(fake.embedding_arrivals())
        # No embedding engine named: symai's own, served from this process.
        with BatchScheduler(engine="echo", cache="off") as scheduler:
            results = scheduler(Embed, num_workers=100, dataset=items, batch_size=300)
            summary = scheduler.last_summary
            cut = scheduler(Embed, num_workers=20, dataset=items[:20], batch_size=20, new_dim=3)
    assert own == 320, "symai's own engine sends one request per embed"
    assert results == expected, "the vectors symai's own engine gives, item by item"
    assert cut == expected_cut
    requests = fake.embedding_arrivals()[own:]
    assert all(isinstance(r.body["input"], list) for r in requests)
    assert sorted(t for r in requests for t in r.body["input"]) == sorted(items + items[:20])
    # 300 calls in batches of up to 300: a handful of requests (a batch
    # leaves early while slots are still starting), not 300.
    first_job = [r for r in requests if not set(r.body["input"]) & set(items[:20])]
    assert len(requests) <= 15, [len(r.body["input"]) for r in requests]
    assert max(len(r.body["input"]) for r in first_job) >= 20
    assert all(r.body == {"model": MODEL, "input": r.body["input"]} for r in requests)
    assert summary is not None
    assert summary.embedding_engine == f"symai:EmbeddingEngine:{MODEL}"
    assert summary.embedding_calls == summary.engine_calls == 300
    assert summary.prompt_tokens == 3 * 300, "the fake's usage (3 words each), shared back"
    assert summary.cost_usd == pytest.approx(900 * 0.02 / 1e6)


def test_a_batch_larger_than_max_inputs_goes_out_in_several_requests(fake, monkeypatch):
    items = [f"item {i}" for i in range(40)]
    with registered(symai_openai_engine(fake, monkeypatch)):
        expected = [Embed().forward(item) for item in items]
        own = len(fake.embedding_arrivals())
        engine = SymaiEmbeddingEngine(max_inputs=7)
        with BatchScheduler(engine="echo", embedding_engine=engine, cache="off") as scheduler:
            results = scheduler(Embed, num_workers=40, dataset=items, batch_size=40)
    assert results == expected
    sizes = [len(r.body["input"]) for r in fake.embedding_arrivals()[own:]]
    assert sum(sizes) == 40 and max(sizes) == 7, sizes
    assert len(sizes) < 40


def test_a_rerun_is_answered_from_the_cache_with_the_same_vectors(fake, monkeypatch):
    items = [f"cached {i}" for i in range(12)]
    with registered(symai_openai_engine(fake, monkeypatch)):
        with BatchScheduler(engine="echo") as scheduler:
            first = scheduler(Embed, num_workers=12, dataset=items, batch_size=12)
            sent = len(fake.embedding_arrivals())
            again = scheduler(Embed, num_workers=12, dataset=items, batch_size=12)
            summary = scheduler.last_summary
    assert again == first == [[embedding_of(item)] for item in items]
    assert len(fake.embedding_arrivals()) == sent, "nothing sent again"
    assert summary is not None and summary.cache_hits == 12


def test_an_engine_not_known_to_take_a_list_answers_one_call_at_a_time():
    items = [f"w{i} x" for i in range(20)]
    with registered(TextLengths()) as engine:
        expected = [Embed().forward(item) for item in items]
        engine.inputs.clear()
        with BatchScheduler(engine="echo", cache="off") as scheduler:
            results = scheduler(Embed, num_workers=20, dataset=items, batch_size=20)
            summary = scheduler.last_summary
        one_at_a_time = list(engine.inputs)
        engine.inputs.clear()
        listed = SymaiEmbeddingEngine(list_input=True)
        with BatchScheduler(engine="echo", embedding_engine=listed, cache="off") as scheduler:
            merged = scheduler(Embed, num_workers=20, dataset=items, batch_size=20)
    assert results == merged == expected == [[[float(len(t)), 2.0]] for t in items]
    assert sorted(one_at_a_time) == sorted([t] for t in items), "each call its own forward()"
    assert summary is not None and summary.embedding_engine == "symai:TextLengths"
    assert len(engine.inputs) < 20 and sorted(t for i in engine.inputs for t in i) == sorted(items)


class EmbedBytes(Expression):
    def forward(self, input, **kwargs):
        return Symbol([input.encode()]).embed().value


class ByteLengths(TextLengths):
    def forward(self, argument):
        data = argument.prop.prepared_input
        return [[[float(len(b))] for b in data]], {}


def test_inputs_that_are_not_text_are_answered_by_symais_engine_in_the_slot():
    with registered(ByteLengths()), BatchScheduler(engine="echo", cache="off") as scheduler:
        results = scheduler(EmbedBytes, num_workers=2, dataset=["ab", "abcd"], batch_size=2)
        summary = scheduler.last_summary
    assert results == [[[2.0]], [[4.0]]]
    assert summary is not None and summary.embedding_calls == 0, "no call crossed the wire"


def test_settings_are_checked_naming_the_field():
    with pytest.raises(ValueError, match=r"max_inputs: must be 1\.\.2048, got 0"):
        SymaiEmbeddingEngine(max_inputs=0)
    with pytest.raises(ValueError, match="max_inputs: must be 1..2048, got 2049"):
        SymaiEmbeddingEngine(max_inputs=2049)
    with pytest.raises(TypeError, match="max_request_tokens: expected an int"):
        SymaiEmbeddingEngine(max_request_tokens="many")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list_input"):
        SymaiEmbeddingEngine(list_input="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="concurrency: must be at least 1"):
        SymaiEmbeddingEngine(concurrency=0)


def test_an_embedding_batch_engines_replies_are_encoded_or_fail_their_call_naming_why():
    from symbatcher import BatchEngine
    from symbatcher.engines._batch_engine import answer_batch
    from symbatcher.v1 import common_pb2, engine_pb2

    class Replies(BatchEngine):
        call_kind = "embedding"

        def forward(self, calls):
            return [([[1.0, 2.0]], {"model": "m"}), [[1.0], [2.0]], "text", [[1.0, "x"]]]

    batch = engine_pb2.EngineBatch(batch_id=1, calls=[
        common_pb2.EngineCall(call_id=i, kind=common_pb2.CALL_KIND_EMBEDDING, inputs=["a"])
        for i in range(4)
    ])
    ok, two, text, bad = answer_batch(Replies(), batch).replies
    assert [list(v.values) for v in ok.embeddings.vectors] == [[1.0, 2.0]]
    assert ok.metadata_json == '{"model": "m"}'
    assert "reply holds 2 vectors for the call's 1 inputs" in two.error.message
    assert "expected a list of vectors" in text.error.message
    assert "something other than numbers" in bad.error.message
