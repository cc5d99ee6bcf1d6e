"""Quick start: summarize a few hundred items with symbatcher.

Runs on the embedded server and its built-in echo engine (no API key needed):
every engine call made by `Summarize.forward` is batched with the calls of the
other running items. Run it with `make demo`, or `.venv/bin/python
examples/quickstart.py` after `make install`.
"""

from symai import Expression, Symbol

from symbatcher import BatchScheduler, EchoEngine


class Summarize(Expression):
    def forward(self, input, **kwargs):
        return Symbol(input).query("Summarize this input", **kwargs).value


def main() -> None:
    dataset = [f"Customer review #{i}: the product {'works' if i % 3 else 'broke'}." for i in range(300)]
    # 20 ms per batch makes the batching visible, as a real LLM endpoint would.
    with BatchScheduler(engine=EchoEngine(latency_ms=20), progress=True) as scheduler:
        results = scheduler(expr=Summarize, num_workers=16, dataset=dataset, batch_size=16)
        summary = scheduler.last_summary
    for item, result in list(zip(dataset, results))[:3]:
        print(f"{item!r}\n  -> {result!r}")
    print(f"... {len(results) - 3} more results")
    assert summary is not None
    print(summary.describe())


if __name__ == "__main__":
    main()
