"""A model served on the user's own network: llama.cpp's ``llama-server``, vLLM, Ollama or
llama-cpp-python's server, through the OpenAI-compatible chat API, behind the same
``Backend`` protocol as the in-process llama.cpp backend.

- Streaming chat (``/v1/chat/completions``, ``stream: true``): tokens reach ``on_token``
  as they come, Stop and ``stop_fn`` close the stream (the server stops generating).
- Retries with backoff on connection errors and 5xx answers, before the first token only.
- ``chat_batch`` sends the conversations concurrently, at most ``concurrency`` at once,
  and returns them in order; once cancelled (or one fails) the rest stop.
- Token counts come from the server's ``usage`` fields; prompt sizes for fitting the
  window from its tokenize endpoint (``/tokenize`` of llama-server and vLLM,
  ``/extras/tokenize`` of llama-cpp-python), else an estimate of 3 characters a token.
- Constrained output: a JSON schema goes as OpenAI's ``response_format`` json_schema, and
  to servers that refuse that form as ``{"type": "json_object", "schema": ...}``
  (llama-cpp-python); a GBNF grammar as the ``grammar`` field, which llama-server and
  llama-cpp-python take. A server that takes neither says so in a ``ModelError``.
- The API key is read from an environment variable at each request and sent only as the
  ``Authorization`` header: it is never stored in settings, the runs DB or a log line.

Privacy: ``host_scope(url)`` says whether a URL points at this machine, a private network
or the internet; the loader refuses a public host unless the user confirmed it."""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from rlm_desktop.errors import Cancelled, ModelError
from rlm_desktop.llm.backend import (
    DEFAULT_PARAMS,
    BatchParams,
    CancelToken,
    Completion,
    GenerationParams,
    Message,
    StopFn,
    TokenCallback,
    params_per_conversation,
)

log = logging.getLogger(__name__)

API_KEY_ENV = "RLM_DESKTOP_SERVER_KEY"
CHARS_PER_TOKEN_ESTIMATE = 3.0  # when the server has no tokenize endpoint: errs on the long side
MESSAGE_OVERHEAD_TOKENS = 8  # role markers of a chat template, per message
RETRY_DELAYS_S = (0.5, 1.5, 4.0)

HostScope = Literal["loopback", "private", "public"]


def host_scope(url: str) -> HostScope:
    """Where a server URL points: this machine, a private network (RFC 1918, link-local,
    unique-local IPv6, ``.local`` names) or the public internet. A name is resolved with
    the same lookup the connection would make; one that does not resolve counts as public."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return "loopback"
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host.endswith(".local"):
            return "private"
        try:
            addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in socket.getaddrinfo(host, None)]
        except (OSError, ValueError):
            return "public"
    if addresses and all(a.is_loopback for a in addresses):
        return "loopback"
    if addresses and all(a.is_private or a.is_loopback or a.is_link_local for a in addresses):
        return "private"
    return "public"


def display_host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


@dataclass(frozen=True)
class ServerConfig:
    url: str
    model: str
    n_ctx: int = 8192
    concurrency: int = 4
    timeout_s: float = 600.0
    connect_timeout_s: float = 10.0
    api_key_env: str = API_KEY_ENV


def _api_base(url: str) -> tuple[str, str]:
    """(the OpenAI API base ending in /v1, the server root) for a URL given with or
    without /v1."""
    url = url.strip().rstrip("/")
    if not urlsplit(url).scheme:
        url = "http://" + url
    if url.endswith("/v1"):
        return url, url[: -len("/v1")]
    return url + "/v1", url


class ServerBackend:
    """A served model as a ``Backend``. Thread-safe: ``httpx.Client`` is."""

    def __init__(self, config: ServerConfig, role: str = "root", client: httpx.Client | None = None) -> None:
        self.config = config
        self.api, self.root = _api_base(config.url)
        self.host = display_host(self.root)
        self.sends_to = self.root  # where the question and the text the model reads go
        self.name = f"{config.model} @ {self.host} (served)"
        self.role = role
        timeout = httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s)
        self._client = client or httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=max(4, config.concurrency * 2)))
        self._tokenize_path: str | None | bool = False  # False: not probed yet; None: none found
        self._schema_form: str | None = None  # "json_schema" or "json_object", once one worked
        self._n_ctx = config.n_ctx
        # the same texts (system prompt, examples, history) are counted on every turn; this
        # backend's own cache, so a closed backend is not kept alive by a module-wide one
        self._cached_count = lru_cache(maxsize=4096)(self._count_uncached)

    # -- the Backend protocol ------------------------------------------------------------------

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def count_tokens(self, text: str) -> int:
        return self._count(text)

    def count_chat_tokens(self, messages: Sequence[Message]) -> int:
        return sum(self._count(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages) + MESSAGE_OVERHEAD_TOKENS

    def chat(
        self,
        messages: Sequence[Message],
        params: GenerationParams = DEFAULT_PARAMS,
        *,
        on_token: TokenCallback | None = None,
        stop_fn: StopFn | None = None,
        cancel: CancelToken | None = None,
    ) -> Completion:
        started = time.monotonic()
        payload = self._payload(messages, params)
        text, finish, usage = self._stream(payload, params, on_token, stop_fn, cancel)
        prompt_tokens = usage.get("prompt_tokens") if usage else None
        completion_tokens = usage.get("completion_tokens") if usage else None
        return Completion(
            text=text,
            prompt_tokens=int(prompt_tokens) if prompt_tokens is not None else self.count_chat_tokens(messages),
            completion_tokens=int(completion_tokens) if completion_tokens is not None else self._count(text),
            finish_reason=finish,  # type: ignore[arg-type]
            elapsed_s=time.monotonic() - started,
        )

    def chat_batch(self, conversations: Sequence[Sequence[Message]], params: BatchParams = DEFAULT_PARAMS,
                   cancel: CancelToken | None = None) -> list[Completion]:
        """The conversations sent at once, ``concurrency`` at a time, answers in order.
        When one fails the others are stopped and its error is raised."""
        each = params_per_conversation(params, len(conversations))
        if not conversations:
            return []
        stop_all = _EitherCancel(cancel)
        workers = max(1, min(self.config.concurrency, len(conversations)))

        def one(i: int) -> Completion:
            if stop_all.cancelled:
                return Completion("", 0, 0, "cancelled", 0.0)
            try:
                return self.chat(conversations[i], each[i], cancel=stop_all)
            except BaseException:
                stop_all.cancel()
                raise

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="served-sub") as pool:
            futures = [pool.submit(one, i) for i in range(len(conversations))]
            results = []
            error: BaseException | None = None
            for future in futures:
                try:
                    results.append(future.result())
                except BaseException as exc:  # noqa: BLE001 - the first error wins, after all stopped
                    error = error or exc
                    results.append(Completion("", 0, 0, "cancelled", 0.0))
        if error is not None:
            raise error
        return results

    def close(self) -> None:
        self._client.close()

    # -- beyond the protocol ------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """The model names the server serves (``/v1/models``)."""
        response = self._request("GET", f"{self.api}/models")
        try:
            return [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError) as exc:
            raise ModelError(f"the server at {self.host} did not list its models: {exc}") from None

    def check(self) -> list[str]:
        """Reach the server and check that it serves this model; the models it lists."""
        models = self.list_models()
        if models and self.config.model not in models:
            raise ModelError(f"the server at {self.host} has no model {self.config.model!r}; it serves: {', '.join(models)}")
        return models

    # -- internals ----------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.config.api_key_env, "")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _payload(self, messages: Sequence[Message], params: GenerationParams) -> dict[str, Any]:
        if params.json_schema is not None and params.grammar is not None:
            raise ModelError("give a JSON schema or a grammar, not both")
        chat = [{"role": m.role, "content": m.content} for m in messages]
        if params.prefix:
            chat.append({"role": "assistant", "content": params.prefix})
        payload: dict[str, Any] = {
            "model": self.config.model,
            "messages": chat,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            payload["stop"] = list(params.stop)
        if params.grammar is not None:
            payload["grammar"] = params.grammar
        if params.json_schema is not None:
            payload["response_format"] = self._schema_format(params.json_schema, self._schema_form or "json_schema")
        return payload

    @staticmethod
    def _schema_format(schema: dict[str, Any], form: str) -> dict[str, Any]:
        if form == "json_object":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}

    def _stream(self, payload: dict[str, Any], params: GenerationParams, on_token: TokenCallback | None,
                stop_fn: StopFn | None, cancel: CancelToken | None) -> tuple[str, str, dict[str, Any]]:
        attempt = 0
        while True:
            if cancel is not None and cancel.cancelled:
                return "", "cancelled", {}
            try:
                with self._client.stream("POST", f"{self.api}/chat/completions", json=payload, headers=self._headers()) as response:
                    if response.status_code >= 400:
                        response.read()
                        retry = self._refused(response, payload, params)
                        if retry:
                            continue  # the other form of JSON schema, or a 5xx worth another try
                    result = self._read_stream(response, on_token, stop_fn, cancel)
                    if params.json_schema is not None and self._schema_form is None:
                        self._schema_form = payload["response_format"]["type"]
                    return result
            except _Retry as exc:
                attempt = self._backoff(attempt, cancel, str(exc))
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                # nothing was generated yet (a drop in mid-reply is a ModelError already)
                attempt = self._backoff(attempt, cancel, f"cannot reach the model server at {self.host}: {exc}")
            except httpx.TimeoutException as exc:
                raise ModelError(f"the model server at {self.host} did not answer in time ({exc})") from None

    def _backoff(self, attempt: int, cancel: CancelToken | None, why: str) -> int:
        if attempt >= len(RETRY_DELAYS_S):
            raise ModelError(f"{why} (tried {attempt + 1} times)")
        delay = RETRY_DELAYS_S[attempt]
        log.info("%s; trying again in %.1f s", why, delay)
        until = time.monotonic() + delay
        while time.monotonic() < until:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("stopped")
            time.sleep(0.05)
        return attempt + 1

    def _refused(self, response: httpx.Response, payload: dict[str, Any], params: GenerationParams) -> bool:
        """An error answer: True to send the (possibly changed) payload again, else raise."""
        body = response.text[:500]
        status = response.status_code
        if params.json_schema is not None and status in (400, 422, 500) and self._schema_form is None \
                and payload["response_format"].get("type") == "json_schema":
            # llama-cpp-python's server takes only {"type": "json_object", "schema": ...}
            payload["response_format"] = self._schema_format(params.json_schema, "json_object")
            self._schema_form = "json_object"
            return True
        if status >= 500:
            raise _Retry(f"the model server at {self.host} answered {status}: {body}")
        if status in (401, 403):
            raise self._refused_key(status)
        if status == 404 or "model" in body.lower() and "not" in body.lower():
            try:
                models = self.list_models()
            except ModelError:
                models = []
            if models and self.config.model not in models:
                raise ModelError(f"the server at {self.host} has no model {self.config.model!r}; it serves: {', '.join(models)}")
        if params.grammar is not None and status in (400, 422):
            raise ModelError(f"the model server at {self.host} does not take a grammar ({status}: {body})")
        raise ModelError(f"the model server at {self.host} answered {status}: {body}")

    def _read_stream(self, response: httpx.Response, on_token: TokenCallback | None, stop_fn: StopFn | None,
                     cancel: CancelToken | None) -> tuple[str, str, dict[str, Any]]:
        text = ""
        finish = "stop"
        usage: dict[str, Any] = {}
        started = False
        try:
            for line in response.iter_lines():
                if cancel is not None and cancel.cancelled:
                    return text, "cancelled", usage
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue
                if chunk.get("usage"):
                    usage = chunk["usage"]
                if "error" in chunk:
                    raise ModelError(f"the model server at {self.host} failed mid-reply: {chunk['error']}")
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content") or ""
                    if delta:
                        started = True
                        text += delta
                        if on_token is not None:
                            on_token(delta)
                        if stop_fn is not None:
                            cut = stop_fn(text)
                            if cut is not None:
                                return text[:cut], "stop", usage
                    if choice.get("finish_reason"):
                        finish = "length" if choice["finish_reason"] == "length" else "stop"
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            if started:
                raise ModelError(f"the model server at {self.host} dropped the connection in mid-reply: {exc}") from None
            raise
        return text, finish, usage

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, url, headers=self._headers(), **kwargs)
        except httpx.HTTPError as exc:
            raise ModelError(f"cannot reach the model server at {self.host}: {exc}") from None
        if response.status_code in (401, 403):
            raise self._refused_key(response.status_code)
        if response.status_code >= 400:
            raise ModelError(f"the model server at {self.host} answered {response.status_code}: {response.text[:300]}")
        return response

    def _refused_key(self, status: int) -> ModelError:
        return ModelError(f"the model server at {self.host} refused the request ({status}): "
                          f"set its API key in the environment variable {self.config.api_key_env}")

    def _count(self, text: str) -> int:
        if not text:
            return 0
        return self._cached_count(text)

    def _count_uncached(self, text: str) -> int:
        counted = self._tokenize(text)
        return counted if counted is not None else int(len(text) / CHARS_PER_TOKEN_ESTIMATE) + 1

    def _tokenize(self, text: str) -> int | None:
        """Tokens by the server's own tokenizer, or None when it has no endpoint for it."""
        if self._tokenize_path is None:
            return None
        candidates = ([self._tokenize_path] if isinstance(self._tokenize_path, str)
                      else ["/tokenize", "/extras/tokenize"])
        for path in candidates:
            body = {"content": text, "input": text, "prompt": text, "model": self.config.model, "add_special": False}
            try:
                response = self._client.post(f"{self.root}{path}", json=body, headers=self._headers())
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                try:
                    data = response.json()
                except ValueError:
                    continue
                tokens = data.get("tokens")
                count = data.get("count")
                if isinstance(tokens, list) or isinstance(count, int):
                    self._tokenize_path = path
                    return int(count) if isinstance(count, int) else len(tokens)
        self._tokenize_path = None
        log.info("the server at %s has no tokenize endpoint: prompt sizes are estimated", self.host)
        return None


class _Retry(Exception):
    pass


class _EitherCancel:
    """Cancelled when the caller's token is, or when ``cancel()`` was called (one request
    of a batch failed: the others stop)."""

    def __init__(self, outer: CancelToken | None) -> None:
        self._outer = outer
        self._own = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._own.is_set() or bool(self._outer is not None and self._outer.cancelled)

    def cancel(self) -> None:
        self._own.set()
