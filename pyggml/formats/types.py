"""The tensor types pyggml knows: ids, block sizes, bytes per block, bits per weight."""

from __future__ import annotations

import enum

from .. import _core

_TABLE = {row["id"]: row for row in _core.type_table()}


class GGMLType(enum.IntEnum):
    """A GGUF tensor type. Values are ggml's type ids, as stored in GGUF files."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8
    Q8_1 = 9
    Q2_K = 10
    Q3_K = 11
    Q4_K = 12
    Q5_K = 13
    Q6_K = 14
    Q8_K = 15
    IQ2_XXS = 16
    IQ2_XS = 17
    IQ3_XXS = 18
    IQ1_S = 19
    IQ4_NL = 20
    IQ3_S = 21
    IQ2_S = 22
    IQ4_XS = 23
    IQ1_M = 29
    BF16 = 30
    TQ1_0 = 34
    TQ2_0 = 35
    MXFP4 = 39
    NVFP4 = 40
    Q1_0 = 41

    @property
    def block_size(self) -> int:
        """Elements per block."""
        return _TABLE[self.value]["block_size"]

    @property
    def type_size(self) -> int:
        """Bytes per block."""
        return _TABLE[self.value]["type_size"]

    @property
    def bits_per_weight(self) -> float:
        return self.type_size * 8 / self.block_size

    @property
    def is_quantized(self) -> bool:
        return _TABLE[self.value]["is_quantized"]

    @property
    def can_quantize(self) -> bool:
        return _TABLE[self.value]["can_quantize"]

    @property
    def can_dequantize(self) -> bool:
        return _TABLE[self.value]["can_dequantize"]

    @property
    def can_matmul(self) -> bool:
        """Whether weights may have this type: the matrix product has a kernel for it
        (not Q8_1 and Q8_K, which only hold converted activations)."""
        return _TABLE[self.value]["can_matmul"]

    @property
    def uses_imatrix(self) -> bool:
        """Whether quantize() takes an importance vector into account."""
        return _TABLE[self.value]["uses_imatrix"]

    @property
    def requires_imatrix(self) -> bool:
        """Whether quantize() refuses to run without an importance vector (ggml's
        ggml_quantize_requires_imatrix: IQ2_XXS, IQ2_XS, IQ1_S)."""
        return self.name in ("IQ2_XXS", "IQ2_XS", "IQ1_S")

    def row_size(self, n: int) -> int:
        """Bytes of a row of n elements (n a multiple of block_size)."""
        if n % self.block_size:
            raise ValueError(f"{self.name}: row length {n} is not a multiple of the block size {self.block_size}")
        return n // self.block_size * self.type_size

    @classmethod
    def parse(cls, value: "str | int | GGMLType") -> "GGMLType":
        """Accept a GGMLType, its id, or its name in any case ("q4_k", "Q4_K")."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls[value.upper()]
            except KeyError:
                raise ValueError(
                    f"unknown tensor type {value!r}; known types: {', '.join(t.name for t in cls)}"
                ) from None
        try:
            return cls(int(value))
        except ValueError:
            raise ValueError(f"unknown tensor type id {value!r}") from None


assert set(_TABLE) == {t.value for t in GGMLType}, "GGMLType out of step with the native type table"
