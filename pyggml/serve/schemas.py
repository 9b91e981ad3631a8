"""Request bodies of the OpenAI-compatible endpoints, as pydantic models.

A field of the wrong type or out of range is refused here (the app turns the validation
error into an OpenAI-style 400 naming the field). Fields OpenAI defines that pyggml cannot
honour (n > 1, a JSON response format) are refused in app.py with a clear message rather
than ignored.
"""

from __future__ import annotations

from typing import Any, Dict, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

# pydantic's strict types: a prompt of the wrong type (a number, a list of floats) is an error,
# not silently converted.
TokenIds = List[StrictInt]


class StreamOptions(BaseModel):
    include_usage: bool = False


class _Sampling(BaseModel):
    """Sampling and stopping fields shared by completions and chat (llama.cpp's defaults)."""

    model_config = ConfigDict(extra="allow")

    model: Optional[str] = None
    max_tokens: Optional[int] = Field(default=None, ge=1)
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    top_p: float = Field(default=0.95, ge=0.0, le=1.0)
    top_k: int = Field(default=40, ge=0)
    min_p: float = Field(default=0.05, ge=0.0, le=1.0)
    typical_p: float = Field(default=1.0, ge=0.0, le=1.0)
    repeat_penalty: float = Field(default=1.0, ge=0.0)
    presence_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    frequency_penalty: float = Field(default=0.0, ge=-2.0, le=2.0)
    logit_bias: Optional[Dict[str, float]] = None
    seed: Optional[int] = None
    stop: Optional[Union[StrictStr, List[StrictStr]]] = None
    stream: bool = False
    stream_options: Optional[StreamOptions] = None
    n: int = Field(default=1, ge=1)
    ignore_eos: bool = False  # llama.cpp's server extension
    user: Optional[str] = None


class CompletionRequest(_Sampling):
    prompt: Union[StrictStr, TokenIds, List[StrictStr], List[TokenIds]]
    max_tokens: Optional[int] = Field(default=16, ge=1)  # OpenAI's default for completions
    logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    echo: bool = False
    suffix: Optional[str] = None


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: Optional[str] = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Optional[Union[StrictStr, List[ContentPart]]] = None
    name: Optional[str] = None
    tool_calls: Optional[List[Dict[str, Any]]] = None  # an assistant's earlier calls, OpenAI's shape
    tool_call_id: Optional[str] = None  # a tool message's answer to that call


class ChatCompletionRequest(_Sampling):
    messages: List[ChatMessage] = Field(min_length=1)
    max_completion_tokens: Optional[int] = Field(default=None, ge=1)
    logprobs: bool = False
    top_logprobs: Optional[int] = Field(default=None, ge=0, le=20)
    response_format: Optional[Dict[str, Any]] = None
    tools: Optional[List[Dict[str, Any]]] = None
    tool_choice: Optional[Union[StrictStr, Dict[str, Any]]] = None
    parallel_tool_calls: Optional[bool] = None  # accepted; several calls in a reply are always read
    functions: Optional[List[Dict[str, Any]]] = None  # OpenAI's legacy names for tools and tool_choice
    function_call: Optional[Union[StrictStr, Dict[str, Any]]] = None


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: Optional[str] = None
    input: Union[StrictStr, List[StrictStr], TokenIds, List[TokenIds]]
    encoding_format: Literal["float", "base64"] = "float"
    user: Optional[str] = None


class TokenizeRequest(BaseModel):
    content: StrictStr
    add_special: bool = False
    with_pieces: bool = False


class DetokenizeRequest(BaseModel):
    tokens: TokenIds
