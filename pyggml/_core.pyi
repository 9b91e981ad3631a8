"""Stubs of pyggml._core, the native module (cpp/python/).

The module holds what the package calls; `testing` holds the entry points only the tests and the
kernel benchmarks use. Type ids are ggml's (pyggml.types.GGMLType); arrays are numpy arrays,
C-contiguous where the native side writes into them.
"""

from typing import Any, Callable, Sequence

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]

# ---- types, quantize and dequantize (bind_quants.cpp)

def type_table() -> list[dict[str, Any]]:
    """One dict per tensor type: id, name, block_size, type_size, is_quantized, can_dequantize,
    can_quantize, uses_imatrix, can_matmul."""

def check_tensor_data(type: int, data: npt.ArrayLike, n_threads: int = 0) -> tuple[int, str, float] | None:
    """The first NaN or infinity among a tensor's values or block scales: None or (index, field, value)."""

def quantize(type: int, src: npt.ArrayLike, imatrix: npt.ArrayLike | None = None, n_threads: int = 0,
             reference: bool = False) -> U8:
    """(n_rows, n_per_row) float32 -> (n_rows, row_bytes) uint8; reference=True: the scalar code."""

def dequantize(type: int, data: Any, n_rows: int, n_per_row: int, n_threads: int = 0,
               reference: bool = False) -> F32:
    """Contiguous bytes of n_rows rows -> (n_rows, n_per_row) float32."""

def runtime_type_table() -> list[dict[str, Any]]:
    """The load-time weight formats and their activation types (ids from 64, never in files):
    id, name, block_size, can_matmul."""

def quantize_weight(type: int, src: npt.ArrayLike, per_tensor: bool = False) -> U8:
    """(n_rows, n) float32 -> (n_rows, row bytes) uint8 of a load-time weight format; per_tensor:
    the int8 row formats take the tensor's scale (and zero point)."""

def dynamic_map() -> F32:
    """bitsandbytes' signed dynamic 8-bit map (256 sorted values): the double-quantized scales' code."""

def gguf_strings(buffer: Any, pos: int, count: int) -> tuple[list[str], int]:
    """Up to `count` GGUF strings (uint64 length + UTF-8 bytes, surrogateescape) from byte `pos` of
    `buffer`, stopping before the first that does not fit: (the strings, the position after them).
    (bind_gguf.cpp)"""

def release_file_pages(buffer: Any) -> bool:
    """When the buffer lies in a shared file mapping (a mapped GGUF), unmap its whole pages from this
    process (Linux MADV_DONTNEED: still readable on the next touch); else nothing. Whether pages went."""

# ---- threads, the tier in use, memory bandwidth (bind_matmul.cpp)

class ThreadPool:
    def __init__(self, n_threads: int = 0) -> None: ...
    @property
    def n_threads(self) -> int: ...
    @staticmethod
    def default_threads() -> int:
        """Physical cores (logical CPUs where they cannot be counted)."""

def cpu_isa() -> str:
    """The instruction-set tier the kernels dispatch to: 'avx512', 'avxvnni', 'avx2', 'i8mm', 'dotprod', 'neon' or 'scalar'."""

def cpu_tier() -> dict[str, object]:
    """How the tier was chosen: tier, highest, available, requested (PYGGML_CPU_TIER or None),
    request_known, variable."""

def memory_read(pool: ThreadPool, data: npt.ArrayLike, streams: int = 1) -> int:
    """Stream-read a uint8 buffer on the pool; returns a checksum."""

# ---- vector quantizers (bind_vq.cpp; pyggml.vq is the API)

I64 = npt.NDArray[np.int64]

def sq_encode(x: npt.ArrayLike, vmin: npt.ArrayLike, step: npt.ArrayLike, bits: int, n_threads: int = 0) -> U8:
    """(n, dim) -> (n, code size) levels round((x - vmin) / step) clamped; bits 4: two per byte, even low."""

def sq_decode(codes: U8, vmin: npt.ArrayLike, step: npt.ArrayLike, bits: int, n_threads: int = 0) -> F32:
    """(n, code size) uint8 -> (n, dim) vmin + level * step."""

def sq_search(codes: U8, queries: npt.ArrayLike, k: int, vmin: npt.ArrayLike, step: npt.ArrayLike, bits: int,
              n_threads: int = 0, isa: str = "best") -> tuple[F32, I64]:
    """(distances, ids), each (nq, k): squared L2 to the decoded codes, ascending; -1 / inf past n."""

def vq_assign(x: npt.ArrayLike, centroids: npt.ArrayLike, n_threads: int = 0) -> tuple[I64, F32]:
    """(assign, dist), each (n,): the nearest of centroids (k, dim) to each row of x (n, dim)."""

def pq_encode(x: npt.ArrayLike, centroids: npt.ArrayLike, n_threads: int = 0) -> U8:
    """(n, m * dsub) -> (n, m): the nearest of centroids (m, ksub, dsub) in each sub-space."""

def pq_search(codes: U8, queries: npt.ArrayLike, k: int, centroids: npt.ArrayLike,
              n_threads: int = 0) -> tuple[F32, I64]:
    """(distances, ids), each (nq, k): asymmetric distance search with per-query tables (m, ksub)."""

# ---- GPTQ (bind_gptq.cpp)

def gptq_quantize(type: int, w: F32, u: npt.ArrayLike, later_columns: Callable[[int, int, F32], None],
                  w_file: npt.ArrayLike | None = None, perm: npt.ArrayLike | None = None,
                  importance: npt.ArrayLike | None = None, block: int = 128, n_threads: int = 0) -> U8:
    """GPTQ of w (rows, cols), rewritten in place, onto the grid of `type`; returns (rows, row_bytes).
    later_columns(c0, c1, err) must apply w[:, c1:] -= err @ u[c0:c1, c1:]."""

# ---- the model (bind_model.cpp)

class ModelHParams:
    def __init__(self, *, n_vocab: int, n_embd: int, n_layer: int, n_head: int, n_head_kv: int, head_dim_k: int,
                 head_dim_v: int, n_ff: int, n_rot: int, rope_neox: bool, rms_eps: float, attn_scale: float,
                 embd_scale: float, final_logit_softcap: float, attn_logit_softcap: float, n_swa: int,
                 activation: str, layer_swa: Sequence[int], layer_rope_base: Sequence[float],
                 layer_rope_scale: Sequence[float], layer_no_rope: Sequence[int] = ..., attn_temp_scale: float = 0.0,
                 attn_temp_floor: int = 0, n_expert: int = 0, n_expert_used: int = 0, n_ff_exp: int = 0,
                 expert_weights_norm: bool = False, expert_weights_scale: float = 1.0,
                 rope_attn_factor: float = 1.0, expert_gating: str = "softmax", yarn_ext_factor: float = 0.0,
                 yarn_beta_fast: float = 32.0, yarn_beta_slow: float = 1.0, yarn_n_ctx_orig: int = 0) -> None: ...
    n_vocab: int
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim_k: int
    head_dim_v: int
    n_ff: int
    n_rot: int
    rope_neox: bool
    rms_eps: float
    attn_scale: float
    embd_scale: float
    final_logit_softcap: float
    attn_logit_softcap: float
    n_swa: int
    activation: str  # "silu", "gelu_tanh" or "swiglu_oai"
    layer_swa: list[int]
    layer_rope_base: list[float]
    layer_rope_scale: list[float]
    layer_no_rope: list[int]  # empty, or one flag per layer: 1 = no rotary embedding
    attn_temp_scale: float
    attn_temp_floor: int
    n_expert: int  # 0: dense feed-forward
    n_expert_used: int
    n_ff_exp: int
    expert_weights_norm: bool
    expert_weights_scale: float
    rope_attn_factor: float
    expert_gating: str  # "softmax" or "softmax_weight" (gpt-oss: softmax over the chosen logits)
    yarn_ext_factor: float  # 0: no YaRN
    yarn_beta_fast: float
    yarn_beta_slow: float
    yarn_n_ctx_orig: int

class Model:
    def __init__(self, hparams: ModelHParams, tensors: dict[str, tuple[int, U8, tuple[int, ...]]], n_ctx: int,
                 n_batch: int, n_threads: int, kv_type: int, precise: bool = False, owner: object = None,
                 repack: bool = True, gpu_layers: Sequence[int] = (), gpu_output: bool = False,
                 n_seq_max: int = 1) -> None: ...
    @staticmethod
    def gpu_plan(hparams: ModelHParams, tensors: dict[str, tuple[int, U8, tuple[int, int]]], gpu_layers: Sequence[int],
                 gpu_output: bool, n_ctx: int, n_batch: int) -> dict[str, int]:
        """GPU bytes {weights, kv, scratch, total} a placement would take (any build); ValueError for a
        tensor or size the GPU has no kernel for."""
    def eval(self, tokens: npt.ArrayLike, all_logits: bool = False) -> F32: ...
    def eval_batch(self, batch: Sequence[tuple[int, npt.ArrayLike]], all_logits: bool = False) -> F32: ...
    def embed(self, tokens: npt.ArrayLike, seq: int = 0) -> F32: ...
    def eval_capture(self, tokens: npt.ArrayLike, sites: Sequence[tuple[int, int]], output: bool = False,
                     last_layer: int = -1) -> list[F32]: ...
    def eval_capture_batch(self, batch: Sequence[tuple[int, npt.ArrayLike]], sites: Sequence[tuple[int, int]],
                           output: bool = False, last_layer: int = -1) -> list[F32]: ...
    def shift_context(self, n_keep: int, n_discard: int, seq: int = 0) -> None: ...
    def reset(self) -> None: ...
    def truncate(self, n_past: int, seq: int = 0) -> None: ...
    def seq_copy(self, src: int, dst: int, n: int) -> None: ...
    def seq_pos(self, seq: int) -> int: ...
    @property
    def n_seq_max(self) -> int: ...
    @property
    def n_past(self) -> int: ...
    @property
    def n_ctx(self) -> int: ...
    @property
    def n_batch(self) -> int: ...
    @property
    def n_threads(self) -> int: ...
    @property
    def kv_bytes(self) -> int: ...
    @property
    def precise(self) -> bool: ...
    @property
    def repacked_bytes(self) -> int: ...
    @property
    def copied_bytes(self) -> int: ...
    @property
    def gpu_bytes(self) -> dict[str, int] | None: ...
    @property
    def gpu_device(self) -> str | None: ...

# ---- the CUDA back end (cpp/cuda/bind_cuda.cpp; present in every build, compiled or not)

def cuda_compiled() -> bool: ...
def cuda_reserve_bytes() -> int:
    """Bytes of GPU memory a placement leaves free (the CUDA context, the allocator)."""
def cuda_available(device: int = 0) -> bool:
    """Whether a CUDA GPU can run layers (loads the CUDA driver on first use)."""
def cuda_info(device: int = 0) -> dict[str, Any]:
    """compiled, available, reason (when not), name, compute_capability, multiprocessors, total_bytes,
    free_bytes, driver_version, runtime_version, architectures."""
def cuda_read_bandwidth(bytes: int = 1 << 30, reps: int = 5) -> float:
    """GB/s of a streaming read of device memory."""

# ---- the SentencePiece merge loop (bind_tokenizer.cpp)

class SpmVocab:
    def __init__(self, tokens: Sequence[bytes], scores: npt.ArrayLike, byte_tokens: npt.ArrayLike) -> None: ...
    def encode(self, text: bytes) -> npt.NDArray[np.int32]: ...
    def __len__(self) -> int: ...

# ---- _core.testing: a submodule at run time, described here as a namespace

class _Testing:
    # single kernels of one tier (isa: any tier's name or 'best'; bind_matmul.cpp)
    @staticmethod
    def cpu_features() -> dict[str, bool]: ...
    @staticmethod
    def darwin_arm64_features(sysctl: dict[str, int]) -> dict[str, bool]: ...
    @staticmethod
    def darwin_default_threads(sysctl: dict[str, int]) -> int: ...
    @staticmethod
    def count_physical_cores(cpuinfo: str, only: str = "") -> int: ...
    @staticmethod
    def os_saves_zmm(xcr0: int, lazy_avx512: bool) -> bool: ...
    @staticmethod
    def vec_dot_type(type: int) -> int: ...
    @staticmethod
    def has_vec_dot_isa(type: int, isa: str) -> bool: ...
    @staticmethod
    def quantize_activations(type: int, x: npt.ArrayLike, isa: str = "scalar", act_param: float = 0.0) -> U8: ...
    @staticmethod
    def vec_dot(type: int, isa: str, weight: npt.ArrayLike, act: npt.ArrayLike, n_cols: int,
                rows_per_call: int = 1) -> F32: ...
    @staticmethod
    def matmul(pool: ThreadPool, type: int, weight: npt.ArrayLike, n_cols: int, x: npt.ArrayLike,
               layout: int = 0, act_param: float = 0.0) -> F32: ...
    @staticmethod
    def matmul_shared_input(pool: ThreadPool, weights: Sequence[tuple[int, npt.ArrayLike, int]], n_cols: int,
                            x: npt.ArrayLike) -> list[F32]: ...
    @staticmethod
    def matmul_jobs(pool: ThreadPool, jobs: Sequence[tuple[int, npt.ArrayLike, int, F32]], n_cols: int) -> list[F32]: ...
    @staticmethod
    def repack(weight: npt.ArrayLike, type: int, n_cols: int) -> U8: ...
    @staticmethod
    def repacked_layout(type: int) -> int: ...
    @staticmethod
    def repack_preferred() -> bool: ...
    @staticmethod
    def weight_buffer_huge_pages() -> bool: ...
    @staticmethod
    def repacked_activations(type: int, x: npt.ArrayLike) -> U8: ...
    @staticmethod
    def vec_dot_repacked(isa: str, type: int, packed: npt.ArrayLike, act: npt.ArrayLike, n_cols: int,
                         tokens_per_call: int = 0) -> F32: ...
    @staticmethod
    def repacked_max_tokens(isa: str) -> int: ...
    # the codebook types over decoded rows (kernels/grid_x8.h)
    @staticmethod
    def decode_rows(type: int, isa: str, weight: npt.ArrayLike, n_cols: int) -> U8: ...
    @staticmethod
    def decode_rows_x8(type: int, isa: str, weight: npt.ArrayLike, n_cols: int) -> U8: ...
    @staticmethod
    def vec_dot_decoded(type: int, isa: str, weight: npt.ArrayLike, act: npt.ArrayLike, n_cols: int,
                        x8: bool = False, tokens_per_call: int = 0) -> F32: ...
    @staticmethod
    def decoded_x8_max_tokens(type: int, isa: str) -> int: ...
    # the forward pass's element-wise and attention kernels (bind_ops.cpp)
    @staticmethod
    def ops_rms_norm(x: npt.ArrayLike, w: npt.ArrayLike | None, eps: float, isa: str = "best") -> F32: ...
    @staticmethod
    def ops_act_mul(act: str, gate: npt.ArrayLike, up: npt.ArrayLike, isa: str = "best") -> F32: ...
    @staticmethod
    def ops_rope(x: npt.ArrayLike, n_rot: int, neox: bool, freq_base: float, freq_scale: float, pos: float,
                 isa: str = "best") -> F32: ...
    @staticmethod
    def ops_rope_cache(n_rot: int, freq_base: float, freq_scale: float, pos0: float, n: int,
                       rows: bool = True, yarn_n_ctx_orig: int = 0, beta_fast: float = 32.0,
                       beta_slow: float = 1.0) -> F32: ...
    @staticmethod
    def ops_attend(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike, hi0: int, window: int, softcap: float,
                   tile_tok: int = 1, tile_heads: int = 1, isa: str = "best", kv_f16: bool = False,
                   kv_q8: bool = False, sinks: npt.ArrayLike | None = None, key_cap: int = 0) -> F32: ...
    # the grid view of the block formats (bind_quant_grid.cpp)
    @staticmethod
    def grid_levels(type: int) -> F32: ...
    @staticmethod
    def grid_group_size(type: int) -> int: ...
    @staticmethod
    def grid_params(type: int, data: Any, nrows: int, ncols: int) -> tuple[F32, F32]: ...
    @staticmethod
    def grid_unpack(type: int, data: Any, nrows: int, ncols: int) -> U8: ...
    @staticmethod
    def grid_pack(type: int, data: Any, indices: npt.ArrayLike) -> U8: ...
    # GPTQ's column loop (bind_gptq.cpp)
    @staticmethod
    def gptq_columns(w: F32, u: npt.ArrayLike, err: F32, idx: U8, c0: int, c1: int, scale: npt.ArrayLike,
                     offset: npt.ArrayLike, levels: npt.ArrayLike, n_threads: int = 0) -> None: ...
    # single GPU kernels (cpp/cuda/bind_cuda.cpp; raise where there is no CUDA GPU)
    @staticmethod
    def cuda_dequantize(type: int, w: npt.ArrayLike, n_rows: int, n_cols: int) -> F32: ...
    @staticmethod
    def cuda_matmul(type: int, w: npt.ArrayLike, n_rows: int, n_cols: int, x: npt.ArrayLike, mode: int = 0) -> F32:
        """mode 0: as the model picks, 1: matrix-vector, 2: tiled, 3: integer matrix-vector (Q4_0, Q5_0,
        Q8_0, Q4_K, Q5_K, Q6_K; one token quantized to int8 first)."""
    @staticmethod
    def cuda_quantize_q8(x: npt.ArrayLike) -> tuple[npt.NDArray[np.int8], F32]: ...
    @staticmethod
    def cuda_matvec_q8_multi(type: int, ws: list, n_rows: list[int], n_cols: int, x: npt.ArrayLike) -> list[F32]: ...
    @staticmethod
    def cuda_matvec_q8_glu(act: str, type: int, gate: npt.ArrayLike, up: npt.ArrayLike, n_rows: int, n_cols: int,
                           x: npt.ArrayLike) -> F32: ...
    @staticmethod
    def cuda_residual_norm(x: npt.ArrayLike, o: npt.ArrayLike | None, post: npt.ArrayLike | None, w: npt.ArrayLike,
                           eps: float, quantized: bool = False) -> tuple: ...
    @staticmethod
    def cuda_act_mul(act: str, gate: npt.ArrayLike, up: npt.ArrayLike, quantized: bool = False) -> Any: ...
    @staticmethod
    def cuda_rope(x: npt.ArrayLike, n_rot: int, neox: bool, cs: npt.ArrayLike) -> F32: ...
    @staticmethod
    def cuda_attend(q: npt.ArrayLike, k: npt.ArrayLike, v: npt.ArrayLike, n_past: int, window: int,
                    softcap: float, quantized: bool = False) -> Any: ...
    @staticmethod
    def cuda_time_matmul(type: int, w: npt.ArrayLike, n_rows: int, n_cols: int, T: int, mode: int = 0,
                         reps: int = 10) -> float: ...

testing: _Testing
