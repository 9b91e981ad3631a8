"""`pyggml perplexity`: perplexity of a text and KL divergence against a base model, as llama.cpp."""

from __future__ import annotations

import argparse
import sys
import time

from .common import (add_gpu_arguments, add_weight_format_arguments, describe_weight_format, gpu_kwargs,
                     int_at_least, weight_format_kwargs)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "perplexity", help="perplexity of a text file; KL divergence against a base model's logits",
        description="Perplexity computed as llama.cpp's perplexity tool does (chunks of -c tokens, the second "
                    "half of each scored, BOS over each chunk's first token when the vocabulary adds one). "
                    "With --kl-divergence-base FILE alone, the model's top-k log-probabilities are saved to "
                    "FILE; with --kl-divergence too, the model is compared against them.")
    p.add_argument("-m", "--model", required=True, help="a .gguf file or a model name (gemma3-270m, qwen2.5-coder-1.5b)")
    p.add_argument("-f", "--file", help="UTF-8 text file (not needed with --kl-divergence)")
    p.add_argument("-c", "--ctx-size", type=int, default=512, help="tokens per chunk (default 512)")
    p.add_argument("--chunks", type=int_at_least(0), default=0, help="score at most this many chunks (default: all)")
    p.add_argument("-b", "--batch-size", type=int_at_least(1), default=None,
                   help="tokens per forward pass: n_batch / n_ctx chunks run together, each a sequence "
                   "of its own, as llama.cpp's perplexity (default: -c, one chunk per pass)")
    p.add_argument("-t", "--threads", type=int_at_least(0), default=0, help="threads (default: every physical core)")
    p.add_argument("--kl-divergence-base", metavar="FILE", help="base logits file to write, or to read with --kl-divergence")
    p.add_argument("--kl-divergence", action="store_true", help="compare against --kl-divergence-base")
    p.add_argument("--top-k", type=int, default=None, help="log-probabilities kept per token when saving a base (default 32)")
    p.add_argument("--tail", type=int, default=None,
                   help="tokens sampled from the rest of the distribution per token when saving a base (default 32)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_gpu_arguments(p)
    add_weight_format_arguments(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from ..errors import PyggmlError
    from ..eval import kld as K
    from ..eval import perplexity as P
    from ..models import resolve
    from ..progress import progress_bar
    from ..runtime.model import Model
    from ..text import corpus
    from ..text.tokenizer import Tokenizer

    if args.kl_divergence and not args.kl_divergence_base:
        raise PyggmlError("--kl-divergence needs --kl-divergence-base FILE (the base model's saved logits)")
    if (args.top_k is not None or args.tail is not None) and (args.kl_divergence or not args.kl_divergence_base):
        raise PyggmlError("--top-k and --tail apply only when saving a base with --kl-divergence-base")
    if args.tail is not None and args.tail < 0:
        raise PyggmlError("--tail must be at least 0")
    if args.top_k is not None and args.top_k < 1:
        raise PyggmlError("--top-k must be at least 1")

    args.model = str(resolve(args.model))
    tokenizer = Tokenizer.from_gguf(args.model)
    bos = corpus.bos_for_chunks(tokenizer)
    base = None
    if args.kl_divergence:
        base = K.BaseLogits.load(args.kl_divergence_base)
        chunks = base.tokens[: args.chunks] if args.chunks > 0 else base.tokens
        n_tokens = base.tokens.size
        source_name = args.kl_divergence_base
    else:
        if not args.file:
            raise PyggmlError("give the text with -f FILE")
        text = corpus.read_text(args.file)
        tokens = corpus.tokenize_text(tokenizer, text)
        chunks = corpus.make_chunks(tokens, args.ctx_size, args.chunks, source=args.file)
        n_tokens = len(tokens)
        source_name = args.file

    n_ctx = chunks.shape[1]
    n_seq = max(1, (args.batch_size or n_ctx) // n_ctx)
    n_seq = min(n_seq, chunks.shape[0])
    model = Model.load(args.model, n_ctx=n_ctx, n_threads=args.threads or None, n_seq_max=n_seq,
                       n_batch=n_seq * n_ctx, **gpu_kwargs(args), **weight_format_kwargs(args))
    if model.gpu_placement.any:
        print(f"pyggml: {model.placement_summary()}", file=sys.stderr)
    if model.weight_format:
        print(describe_weight_format(model.weight_format_report()), file=sys.stderr)
    if base is not None:
        K.check_compatible(base, model.n_vocab, args.kl_divergence_base)
    n_score = n_ctx - 1 - n_ctx // 2
    print(f"perplexity: {source_name}: {n_tokens} tokens, {chunks.shape[0]} chunks of {n_ctx}, "
          f"{n_score} scored per chunk, {n_seq} chunk{'s' if n_seq > 1 else ''} per pass, {model.n_threads} threads",
          file=sys.stderr)

    source = P.model_logit_source(model)
    bar = progress_bar(total=chunks.shape[0], unit="chunk", enabled=not args.no_progress, leave=True)
    t0 = time.perf_counter()
    stats = P.NllStats()
    running = []
    if base is not None:
        kstats = K.KldStats()
        print(K.CHUNK_HEADER)
        for cs in P.score_chunks(source, chunks, bos, hook=K.compare_hook(base)):
            kld, same = cs.extra
            kstats.add(cs.nll, base.nll[cs.index], kld, same)
            stats.add(cs.nll)
            print(kstats.format_chunk_line(cs.index + 1), flush=True)
            bar.set_postfix_str(f"KLD {kstats.kld()[0]:.5f}, PPL {stats.ppl:.4f}", refresh=False)
            bar.update(1)
        bar.close()
        print()
        if kstats.count >= 100:
            print(kstats.format_report())
        else:
            print(f"only {kstats.count} scored tokens: too few for the statistics")
    else:
        hook = K.base_hook(args.top_k or K.DEFAULT_TOP_K, K.DEFAULT_TAIL if args.tail is None else args.tail) \
            if args.kl_divergence_base else None

        def each(cs):
            stats.add(cs.nll)
            running.append(stats.ppl)
            bar.set_postfix_str(f"PPL {stats.ppl:.4f} ± {stats.ppl_uncertainty:.4f}", refresh=False)
            bar.update(1)

        scores = P.score_chunks(source, chunks, bos, hook=hook)
        if hook is None:
            for cs in scores:
                each(cs)
                cs.logits = None  # drop the (n_score, n_vocab) block now
        else:
            base_out = K.collect_base(scores, chunks, model.n_vocab, on_chunk=each)
        bar.close()
        print(P.format_running(running))
        print(f"Final estimate: PPL = {stats.ppl:.4f} +/- {stats.ppl_uncertainty:.5f}")
        if hook is not None:
            base_out.save(args.kl_divergence_base)
            print(f"saved the top-{base_out.top_k} log-probabilities and {base_out.n_tail} tail samples of "
                  f"{base_out.nll.size} tokens to "
                  f"{args.kl_divergence_base}", file=sys.stderr)
    dt = time.perf_counter() - t0
    n_eval = chunks.shape[0] * (n_ctx - 1)
    print(f"perplexity: {dt:.1f} s, {dt / chunks.shape[0]:.2f} s per chunk, {n_eval / dt:.1f} tokens/s",
          file=sys.stderr)
    return 0
