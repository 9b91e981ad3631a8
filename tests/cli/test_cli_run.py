"""`pyggml run` and `pyggml chat`: llama.cpp's flags, output on stdout, timings on stderr."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from support.synthetic_models import make_model

from pyggml import Llama
from pyggml.cli import main
from pyggml.cli.run import process_escapes


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("cli") / "qwen2.gguf")
    make_model("qwen2", path, tie_output=False)
    return path


def test_run_prints_prompt_completion_and_timings(tiny, capsys):
    assert main(["run", "-m", tiny, "-p", "The quick brown", "-n", "6", "--temp", "0", "-t", "1", "-c", "64",
                 "--ignore-eos"]) == 0
    out, err = capsys.readouterr()
    expected = Llama(tiny, n_ctx=64, verbose=False)("The quick brown", max_tokens=6, temperature=0)
    assert out == "The quick brown" + expected["choices"][0]["text"] + "\n"
    assert "load time" in err and "prompt eval time" in err and "tokens per second" in err
    assert "/     6 tokens" in err  # six generated tokens


def test_run_no_display_prompt_and_prompt_file(tiny, tmp_path, capsys):
    f = tmp_path / "prompt.txt"
    f.write_text("Once upon a time", encoding="utf-8")
    assert main(["run", "-m", tiny, "-f", str(f), "-n", "3", "--temp", "0", "--no-display-prompt"]) == 0
    out, _ = capsys.readouterr()
    assert not out.startswith("Once")
    expected = Llama(tiny, n_ctx=4096, verbose=False)("Once upon a time", max_tokens=3, temperature=0)
    assert out == expected["choices"][0]["text"] + "\n"


def test_run_accepts_llama_cpp_sampling_flags(tiny, capsys):
    argv = ["run", "-m", tiny, "-p", "Hi", "-n", "4", "--temp", "0.7", "--top-k", "20", "--top-p", "0.9",
            "--min-p", "0.1", "--repeat-penalty", "1.1", "--repeat-last-n", "32", "-s", "42", "-c", "64", "-b", "8",
            "--presence-penalty", "0.1", "--frequency-penalty", "0.1", "--typical", "0.95", "-ctk", "q8_0"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # same seed, same text


def test_run_with_gpu_layers(tiny, capsys):
    # -ngl runs blocks on a GPU where a CUDA build has one, and is a clear error elsewhere
    from pyggml.runtime import gpu

    if gpu.available():
        assert main(["run", "-m", tiny, "-p", "Hi", "-n", "1", "-ngl", "99"]) == 0
        assert "pyggml: GPU " in capsys.readouterr().err
    else:
        assert main(["run", "-m", tiny, "-p", "Hi", "-n", "1", "-ngl", "99"]) == 1
        assert "n_gpu_layers=99 needs a CUDA GPU" in capsys.readouterr().err
    assert main(["run", "-m", tiny, "-p", "Hi", "-n", "1", "-ngl", "0"]) == 0


def test_run_reverse_prompt_stops(tiny, capsys):
    assert main(["run", "-m", tiny, "-p", "The", "-n", "12", "--temp", "0", "--ignore-eos", "--no-display-prompt"]) == 0
    full = capsys.readouterr().out[:-1]
    # a two-character stop string from the second half of the greedy text, not whitespace
    starts = [i for i in range(len(full) // 2, len(full) - 1) if full[i:i + 2].strip()]
    assert starts, f"greedy text has no stop-string candidate: {full!r}"
    stop = full[starts[0]:starts[0] + 2]
    assert main(["run", "-m", tiny, "-p", "The", "-n", "12", "--temp", "0", "--ignore-eos", "--no-display-prompt",
                 "-r", stop]) == 0
    assert capsys.readouterr().out == full[: full.index(stop)] + "\n"


def test_escapes_like_llama_cpp():
    assert process_escapes(r"a\nb\tc\\d\'e\"f\q") == "a\nb\tc\\d'e\"f\\q"


def test_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["run", "-m", str(tmp_path / "nope.gguf"), "-p", "x"]) == 1
    assert "not found" in capsys.readouterr().err


def test_prompt_longer_than_context(tiny, capsys):
    assert main(["run", "-m", tiny, "-c", "8", "-p", "The quick brown fox jumps over the lazy dog"]) == 1
    assert "exceed context window" in capsys.readouterr().err


def test_chat_multi_turn_from_stdin(tiny, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("Hello\nTell me more\n/reset\nAgain\n"))
    assert main(["chat", "-m", tiny, "-n", "3", "--temp", "0", "-c", "128", "-sys", "Be brief."]) == 0
    out, err = capsys.readouterr()
    assert err.count("[prompt ") == 3 and "new conversation" in err  # a timing line per reply
    assert "loaded" in err and out.endswith("\n")


def test_chat_ctrl_d_at_start_exits(tiny, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main(["chat", "-m", tiny]) == 0


def test_help_lists_run_and_chat(tmp_path):
    import os

    import pyggml

    # the child imports the same pyggml as this process (installed, or a developer build)
    here = os.path.dirname(os.path.dirname(pyggml.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "pyggml", "--help"], capture_output=True, text=True,
                         env=env, cwd=tmp_path).stdout
    assert "run" in out and "chat" in out


@pytest.mark.real_model
@pytest.mark.slow
def test_run_without_model_uses_gemma(gemma_path, capsys):
    assert main(["run", "-p", "The capital of France is", "-n", "3", "--temp", "0", "-c", "64"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("The capital of France is") and len(out) > len("The capital of France is") + 1
    assert "tokens per second" in err


def test_chat_reply_sends_the_analysis_to_stderr_and_the_answer_to_stdout(monkeypatch):
    import argparse

    import pyggml.cli.chat as chat

    class Harmony:  # a reasoning model's stream, as create_chat_completion shapes it
        def create_chat_completion(self, messages, **kw):
            for delta in ({"role": "assistant"}, {"reasoning_content": "Sum"}, {"reasoning_content": " them."},
                          {"content": "It is"}, {"content": " 4."}, {}):
                yield {"choices": [{"delta": delta}]}

    monkeypatch.setattr(chat, "sampling_kwargs", lambda args: {})
    out, thoughts = io.StringIO(), io.StringIO()
    text = chat.reply(Harmony(), [], argparse.Namespace(n_predict=8), out, thoughts=thoughts)
    assert text == "It is 4." and out.getvalue() == "It is 4.\n"
    assert thoughts.getvalue() == "[thinking] Sum them.\n"
