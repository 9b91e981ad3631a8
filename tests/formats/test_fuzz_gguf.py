"""Fuzzing with crafted GGUF files: every mutant is a success or one of pyggml's errors.

Mutants of three small synthetic models (a Gemma 3 with Q4_0 weights and a SentencePiece
vocabulary, a Qwen2 with F16 weights and a byte-level BPE one, a Llama with Q4_K
weights) go through `pyggml info`, Model.load(...).eval(...) and
Tokenizer.from_gguf(...).encode(...) (tests/support/gguf_fuzz.py: the mutator and the oracle).
Nothing else may escape: no other exception type, no non-finite logits; and, in the long
run, no crash and no hang.

Default run: a few hundred mutants in this process (hypothesis with a fixed seed, so a
failure reproduces), bounded in time. `pytest -m fuzz_long`: mutants in batches, each
batch in a subprocess under an 8 GiB address-space limit and a timeout, for
PYGGML_FUZZ_SECONDS seconds (default 1800); it prints the count of every outcome.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from support.gguf_fuzz import draw_mutant, parse, run_mutant, write
from support.synthetic_models import make_model

BASES = {"gemma3-q4_0": ("gemma3", "Q4_0"), "qwen2-f16": ("qwen2", "F16"), "llama-q4_k": ("llama", "Q4_K")}
UNDER_ASAN = bool(os.environ.get("PYGGML_UNDER_ASAN"))
EXAMPLES = int(os.environ.get("PYGGML_FUZZ_EXAMPLES", 100 if UNDER_ASAN else 300))
BUDGET_SECONDS = float(os.environ.get("PYGGML_FUZZ_BUDGET", 120 if UNDER_ASAN else 40))
OUTCOMES: collections.Counter = collections.Counter()


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("fuzz_bases")
    out = {}
    for name, (arch, wtype) in BASES.items():
        path = d / f"{name}.gguf"
        make_model(arch, path, wtype=wtype, seed=3)
        out[name] = parse(path.read_bytes())
    return out


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_mutants")


def test_bases_round_trip_and_pass(bases, scratch):
    """The mutator's writer reproduces the base files, and they load, evaluate and tokenize."""
    for name, doc in bases.items():
        path = scratch / f"{name}.gguf"
        blob, _ = write(doc)
        path.write_bytes(blob)
        for check in (False, True):
            assert run_mutant(str(path), check_tensors=check) == {"info": "ok", "model": "ok", "tokenizer": "ok"}


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data=st.data())
def test_mutants_are_loaded_or_refused_with_pyggml_errors(bases, scratch, data):
    start = OUTCOMES.setdefault("start", time.monotonic())
    # Every example draws the same data whatever the clock says (hypothesis replays examples
    # and calls a strategy that draws differently on a replay flaky); only running it depends
    # on the time budget.
    base, blob, steps = draw_mutant(data, bases)
    check = data.draw(st.booleans(), label="check_tensors")
    if time.monotonic() - start > BUDGET_SECONDS:  # a slow machine: stop here rather than run long
        OUTCOMES["skipped (time budget)"] += 1
        return
    path = scratch / "mutant.gguf"
    path.write_bytes(blob)
    note = f"mutant of {base}: {'; '.join(steps)} (check_tensors={check})"
    with _no_hang(60, note):
        try:
            outcome = run_mutant(str(path), check_tensors=check)
        except BaseException as e:
            raise AssertionError(f"{note}: {type(e).__name__}: {e}") from e
    OUTCOMES["mutants"] += 1
    for stage, result in outcome.items():
        OUTCOMES[f"{stage}: {result}"] += 1


def test_fuzz_summary():
    """The default run's outcomes (shown with -s); most mutants must reach the model."""
    counts = {k: v for k, v in sorted(OUTCOMES.items()) if k != "start"}
    print("\nGGUF fuzz, default run:", json.dumps(counts, indent=1))
    if counts.get("mutants", 0) >= 100:
        assert counts.get("model: ok", 0) > 0 and counts.get("model: GGUFError", 0) > 0


class _no_hang:
    """SIGALRM after `seconds`: a Python-level hang fails the test instead of the suite."""

    def __init__(self, seconds: int, note: str):
        self.seconds, self.note = seconds, note

    def _fail(self, *_):
        raise AssertionError(f"{self.note}: still running after {self.seconds} s")

    def __enter__(self):
        self.old = signal.signal(signal.SIGALRM, self._fail)
        signal.alarm(self.seconds)

    def __exit__(self, *exc):
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.old)


# ---------------------------------------------------------------- the long run

LONG_BATCH = 100
ADDRESS_SPACE = 8 << 30


def _write_batch(bases: dict, directory: Path, n: int) -> None:
    """n fresh mutants (hypothesis, random seed) as directory/NNNNN.gguf with a .json note."""
    counter = iter(range(10**9))

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def collect(data):
        base, blob, steps = draw_mutant(data, bases)
        check = data.draw(st.booleans())
        stem = directory / f"{next(counter):05d}"
        stem.with_suffix(".gguf").write_bytes(blob)
        stem.with_suffix(".json").write_text(json.dumps({"base": base, "steps": steps, "check_tensors": check}))

    collect()


def _limit_address_space():
    if not UNDER_ASAN:  # AddressSanitizer reserves terabytes of address space for its shadow memory
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.fuzz_long
def test_long_fuzz_in_subprocesses(bases, tmp_path):
    import pyggml

    seconds = float(os.environ.get("PYGGML_FUZZ_SECONDS", "1800"))
    package_root = str(Path(pyggml.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, os.environ.get("PYTHONPATH", "")]))
    worker = Path(__file__).resolve().parents[1] / "support" / "gguf_fuzz.py"
    counts: collections.Counter = collections.Counter()
    findings = []
    deadline = time.monotonic() + seconds
    batch = 0
    while time.monotonic() < deadline and not findings:
        d = tmp_path / f"batch{batch}"
        d.mkdir()
        _write_batch(bases, d, LONG_BATCH)
        try:
            proc = subprocess.run([sys.executable, str(worker), str(d)], env=env, capture_output=True, text=True,
                                  timeout=300, preexec_fn=_limit_address_space)
            problem = None if proc.returncode == 0 else f"worker exited with {proc.returncode}: {proc.stderr[-3000:]}"
        except subprocess.TimeoutExpired:
            problem = "worker still running after 300 s (a hang)"
        results = [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines()] \
            if (d / "results.jsonl").exists() else []
        for r in results:
            counts["mutants"] += 1
            if "failure" in r:
                note = json.loads((d / r["file"]).with_suffix(".json").read_text())
                findings.append(f"{d / r['file']}: {note}: {r['failure']}\n{r['traceback']}")
                continue
            for stage in ("info", "model", "tokenizer"):
                counts[f"{stage}: {r[stage]}"] += 1
        if problem:
            current = (d / "progress").read_text() if (d / "progress").exists() else "?"
            note = (d / current).with_suffix(".json").read_text() if current.endswith(".gguf") else ""
            findings.append(f"{problem}; on mutant {d / current}: {note}")
        if not findings:
            shutil.rmtree(d)
        batch += 1
    print(f"\nGGUF fuzz, long run ({seconds:.0f} s, {batch} batches):", json.dumps(dict(sorted(counts.items())), indent=1))
    report = os.environ.get("PYGGML_FUZZ_REPORT")
    if report:
        Path(report).write_text(json.dumps({"seconds": seconds, "batches": batch, **counts}, indent=1))
    assert not findings, "\n\n".join(findings)
