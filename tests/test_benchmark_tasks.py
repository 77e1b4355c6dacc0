"""benchmarks/gatortron_tasks.py: rows over seeds as mean ± sd, and ``--resume`` running only the
seeds an interrupted run had not finished (rows take tens of minutes on a CPU)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "gatortron_tasks.py"


@pytest.fixture()
def bench(monkeypatch):
    spec = importlib.util.spec_from_file_location("gatortron_tasks", BENCHMARK)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gatortron_tasks", mod)  # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    calls: list[tuple[str, int]] = []

    def row(name: str, fail_on: int | None = None):
        def run(ctx):
            if ctx.seed == fail_on:
                raise KeyboardInterrupt  # the run stops here, as a killed one would
            calls.append((name, ctx.seed))
            return {"task": name, "dataset": name, "metric": "acc", "value": float(ctx.seed % 10),
                    "budget": "tiny", "seconds": 1.0, "baseline": {"name": "majority", "value": 5.0}}
        return run

    mod.row, mod.calls = row, calls
    monkeypatch.setattr(mod, "minilm_dir", lambda: "base")
    return mod


def _main(mod, monkeypatch, *argv):
    monkeypatch.setattr(sys, "argv", ["gatortron_tasks.py", *argv])
    mod.main()


def test_combine_gives_mean_and_sample_sd_over_seeds(bench):
    runs = [{"value": v, "seconds": s, "seed": k, "budget": "b"} for v, s, k in ((1.0, 10, 1), (3.0, 20, 2), (5.0, 30, 3))]
    out = bench.combine("x", runs)
    assert out["value"] == 3.0 and out["sd"] == 2.0 and out["seconds"] == 20.0
    assert out["seeds"] == [1, 2, 3] and out["values"] == [1.0, 3.0, 5.0] and "seed" not in out
    assert bench.combine("x", runs[:1])["sd"] == 0.0


def test_resume_runs_only_the_seeds_an_interrupted_run_left(bench, monkeypatch, tmp_path):
    out = tmp_path / "rows.json"
    monkeypatch.setattr(bench, "registry", lambda: {"a": bench.row("a", fail_on=43), "b": bench.row("b")})
    with pytest.raises(KeyboardInterrupt):
        _main(bench, monkeypatch, "--only", "a", "--seeds", "41,42,43", "--json", str(out))
    assert bench.calls == [("a", 41), ("a", 42)]
    kept = json.loads(out.read_text())
    assert [r["seed"] for r in kept[0]["runs"]] == [41, 42]  # written as it went

    monkeypatch.setattr(bench, "registry", lambda: {"a": bench.row("a"), "b": bench.row("b")})
    bench.calls.clear()
    _main(bench, monkeypatch, "--only", "a", "--seeds", "41,42,43", "--json", str(out), "--resume")
    assert bench.calls == [("a", 43)]
    (a,) = json.loads(out.read_text())
    assert a["seeds"] == [41, 42, 43] and a["values"] == [1.0, 2.0, 3.0]

    # another row later, into the same file: the first row is kept
    _main(bench, monkeypatch, "--only", "b", "--seeds", "7", "--json", str(out), "--resume")
    assert sorted(r["row"] for r in json.loads(out.read_text())) == ["a", "b"]


def test_without_resume_every_seed_runs_again(bench, monkeypatch, tmp_path):
    out = tmp_path / "rows.json"
    monkeypatch.setattr(bench, "registry", lambda: {"a": bench.row("a")})
    _main(bench, monkeypatch, "--only", "a", "--seeds", "1,2", "--json", str(out))
    _main(bench, monkeypatch, "--only", "a", "--seeds", "1,2", "--json", str(out))
    assert bench.calls == [("a", 1), ("a", 2)] * 2


def test_resume_without_json_is_refused(bench, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        _main(bench, monkeypatch, "--resume")
    assert exc.value.code == 2


def test_the_zero_shot_row_scores_the_mc_model_when_given(bench, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(bench, "registry", lambda: {"m": lambda ctx: seen.append(ctx.mc_model) or {
        "task": "m", "dataset": "m", "metric": "acc", "value": 25.0, "budget": "", "seconds": 0.0}})
    _main(bench, monkeypatch, "--only", "m", "--mc-model", str(tmp_path))
    _main(bench, monkeypatch, "--only", "m")
    assert seen == [str(tmp_path), None]


@pytest.mark.parametrize("base_dev, base_test, chosen, value", [
    (0.98, 0.60, "untrained (cosine threshold)", 60.0),  # dev prefers the untrained model, though test would not
    (0.90, 0.95, "fine-tuned", 70.0),  # dev prefers the fine-tuned model, though test would not
])
def test_the_untrained_baseline_competes_on_dev_and_the_test_set_chooses_nothing(monkeypatch, tmp_path, base_dev,
                                                                                base_test, chosen, value):
    spec = importlib.util.spec_from_file_location("tasks_pair", BENCHMARK.parent / "tasks_pair.py")
    pair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pair)
    import clinlm.tasks
    import clinlm.tasks.trainer

    dev, test = ["dev"], ["test"]

    class Task:
        selection_metric, balance = "accuracy", False

        def build(self, model, train):
            return "net", "tok"

        def evaluate(self, net, tok, data):
            assert data is test
            return {"accuracy": 0.70, "macro_f1": 0.7, "n": 1, "predicted": {}}

        def fit_baselines(self, base, train):
            return {"fitted": True}

        def baselines(self, fitted, data):
            acc = base_dev if data is dev else base_test
            return {"cosine threshold": {"accuracy": acc, "macro_f1": acc, "n": 1, "predicted": {}},
                    "majority class": {"accuracy": 0.5}}

    monkeypatch.setattr(clinlm.tasks, "get_task", lambda kind, **kw: Task())
    monkeypatch.setattr(clinlm.tasks.trainer, "train", lambda *a, **k: {"dev": {"accuracy": 0.95}})
    ctx = type("Ctx", (), {"base_model": "base", "work": str(tmp_path), "seed": 1})()
    budget = {"max_length": 8, "epochs": 1, "lr": 1e-4, "batch_size": 2}
    row = pair._classification_row(ctx, "nli", ["train"], dev, test, budget, 0.0, "cosine threshold",
                                   baseline_candidate=True, task="t", dataset="d")
    assert row["extra"]["chosen"] == chosen and row["value"] == pytest.approx(value)
    assert row["extra"]["fine_tuned_dev_accuracy"] == 95.0
    assert row["baseline"]["value"] == pytest.approx(100 * base_test)


def test_the_mmlu_row_reports_the_normalization_val_chose_not_the_one_test_prefers(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_file_location("tasks_pair", BENCHMARK.parent / "tasks_pair.py")
    pair = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pair)
    import clinlm.tasks.mc.data as data
    import clinlm.tasks.mc.scoring as scoring
    from clinlm.tasks.mc.data import McQuestion

    # val/dev: PMI right, per token and sum wrong; test: the reverse (the row must still report PMI)
    split = {"val": [McQuestion("v", "v", ("common", "rare"), 1)], "dev": [McQuestion("d", "v", ("common", "rare"), 1)],
             "test": [McQuestion("t", "t", ("common", "rare"), 0)] * 3}

    class Scorer:
        scoring, mlm_head = "pll", "pretrained"
        max_length = 8

        def logprobs(self, question, options):
            return [(-2.0, 1), (-3.0, 1)] if question == "v" else [(-1.0, 1), (-5.0, 1)]

        def null_logprobs(self, options):
            return [(-1.0, 1), (-6.0, 1)]  # PMI: v -> B (right); t -> 0 vs +1 -> B (wrong on test)

    monkeypatch.setattr(data, "read_mc", lambda path: split[Path(path).name])
    monkeypatch.setattr(scoring, "load_scorer", lambda *a, **k: Scorer())
    ctx = type("Ctx", (), {"base_model": "base", "shared": str(tmp_path), "seed": 1, "quick": False})()
    row = pair.mmlu(ctx)
    assert row["extra"]["chosen"] == "pmi" and row["extra"]["selection_accuracy"] == {"mean": 0.0, "sum": 0.0, "pmi": 100.0}
    assert row["value"] == 0.0 and row["extra"]["accuracy_per_token"] == row["extra"]["accuracy_sum"] == 100.0
    assert "3 test questions" in row["budget"] and "PMI" in row["budget"]
