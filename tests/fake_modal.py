"""A local fake of Modal's control plane, so the REAL `modal` client can be tested offline.

Why: Modal has no emulator, and `f.local()` skips everything between spawn and get (id
round-trips, polling, remote failures, expired outputs, blobs). This fake speaks Modal's private
gRPC protocol as used by **modal==1.6.4** (pin it: the protocol is not public and changes).

It serves, on 127.0.0.1:
- gRPC (grpclib, built on `modal_proto.api_grpc.ModalClientBase`): ClientHello, FunctionGet,
  FunctionMap, FunctionPutInputs, FunctionGetOutputs, FunctionCallCancel, FunctionCallFromId,
  BlobCreate, BlobGet. Every other RPC answers UNIMPLEMENTED naming itself (so a new client
  version that needs more fails loudly, not mysteriously). `rpc_log` lists what was called.
- HTTP (aiohttp) for blobs: async inputs above 8 KiB and outputs above 8 KiB travel as blobs,
  exactly as with the real service (BlobCreate -> PUT url; BlobGet -> GET url).

Each spawned input runs the real body (by default `backend.modal_app.score_chunk.local`) in a
worker thread. Uploaded arguments are never unpickled: `_payload_from_args` walks the pickle
opcodes and accepts only `((bytes,), {})`. The RESULT is serialized with modal's own
`serialize` (what a real container sends back), and the client deserializes it as usual.

Test knobs (call from the test thread): `hold_new_calls`, `release`, `fail_next`,
`time_out_next`, `expire`, `restart`, `calls`, `reset`.
"""
from __future__ import annotations

import asyncio
import hashlib
import importlib
import itertools
import pickletools
import socket
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine

import grpclib
import grpclib.const
from aiohttp import web
from google.protobuf import empty_pb2
from grpclib.server import Server, Stream
from modal._serialization import pickle_exception, serialize
from modal_proto import api_grpc, api_pb2

MODAL_VERSION = "1.6.4"
TOKEN_ID = "ak-fake-rewardpilot"
TOKEN_SECRET = "as-fake-rewardpilot"
ASYNC_INLINE_LIMIT = 8 * 1024  # mirrors modal's MAX_ASYNC_OBJECT_SIZE_BYTES for spawned calls

Body = Callable[[bytes], bytes]
GR = api_pb2.GenericResult


def default_body(payload: bytes) -> bytes:
    """The deployed function's own body, resolved lazily (the fake imports no project code early)."""
    return importlib.import_module("backend.modal_app").score_chunk.local(payload)


@dataclass
class FakeCall:
    """One spawned input: what a real control plane remembers about a function call."""
    call_id: str
    input_id: str
    function_id: str
    payload: bytes | None
    state: str = "queued"  # queued | held | running | done | expired | cancelled
    outcome: str = "run"  # run | fail | timeout
    fail_message: str = ""
    result: api_pb2.GenericResult | None = None
    finished: asyncio.Event = field(default_factory=asyncio.Event)


class UnsupportedArguments(ValueError):
    """The fake only serves `score_chunk(payload: bytes)`."""


def _payload_from_args(args: bytes) -> bytes:
    """Extract `payload` from the client's pickled `((payload,), {})` WITHOUT unpickling.

    Only these opcodes are accepted, so nothing can be constructed or imported.
    """
    framing = {"PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT"}
    shape, found = [], []
    for op, arg, _ in pickletools.genops(args):
        if op.name in framing:
            continue
        if op.name in {"SHORT_BINBYTES", "BINBYTES", "BINBYTES8"}:
            found.append(arg)
            shape.append("BYTES")
        else:
            shape.append(op.name)
    if shape != ["BYTES", "TUPLE1", "EMPTY_DICT", "TUPLE2", "STOP"]:
        raise UnsupportedArguments(f"fake modal serves only f(payload: bytes); got opcodes {shape}")
    return found[0]


def _free_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def _unimplemented(name: str):
    async def handler(self: "FakeModalServicer", stream: Stream) -> None:
        self.fake.rpc_log.append(name)
        raise grpclib.GRPCError(grpclib.const.Status.UNIMPLEMENTED, f"fake modal does not implement {name}")
    return handler


class FakeModalServicer(api_grpc.ModalClientBase):
    """The RPCs the 1.6.4 client uses for from_name -> spawn -> get -> cancel -> from_id."""

    def __init__(self, fake: "FakeModal"):
        self.fake = fake

    async def _request(self, stream: Stream, name: str) -> Any:
        self.fake.rpc_log.append(name)
        md = stream.metadata or {}
        if md.get("x-modal-token-id") != self.fake.token_id or md.get("x-modal-token-secret") != self.fake.token_secret:
            raise grpclib.GRPCError(grpclib.const.Status.UNAUTHENTICATED, "Invalid token id or secret (fake modal)")
        return await stream.recv_message()

    async def ClientHello(self, stream: Stream) -> None:
        await self._request(stream, "ClientHello")
        await stream.send_message(api_pb2.ClientHelloResponse())

    async def FunctionGet(self, stream: Stream) -> None:
        req: api_pb2.FunctionGetRequest = await self._request(stream, "FunctionGet")
        function_id = self.fake.functions.get((req.app_name, req.object_tag))
        if function_id is None:
            raise grpclib.GRPCError(grpclib.const.Status.NOT_FOUND,
                                    f"App '{req.app_name}' not found or has no function '{req.object_tag}'")
        await stream.send_message(self.fake.function_response(function_id, req.object_tag))

    async def FunctionMap(self, stream: Stream) -> None:
        req: api_pb2.FunctionMapRequest = await self._request(stream, "FunctionMap")
        call_id = self.fake.new_id("fc")
        items = [await self.fake.add_input(call_id, req.function_id, item) for item in req.pipelined_inputs]
        await stream.send_message(api_pb2.FunctionMapResponse(
            function_call_id=call_id,
            pipelined_inputs=items,
            retry_policy=api_pb2.FunctionRetryPolicy(retries=0),
            function_call_jwt=f"jwt-{call_id}",
        ))

    async def FunctionPutInputs(self, stream: Stream) -> None:
        req: api_pb2.FunctionPutInputsRequest = await self._request(stream, "FunctionPutInputs")
        items = [await self.fake.add_input(req.function_call_id, req.function_id, item) for item in req.inputs]
        await stream.send_message(api_pb2.FunctionPutInputsResponse(inputs=items))

    async def FunctionGetOutputs(self, stream: Stream) -> None:
        req: api_pb2.FunctionGetOutputsRequest = await self._request(stream, "FunctionGetOutputs")
        await stream.send_message(await self.fake.outputs(req))

    async def FunctionCallCancel(self, stream: Stream) -> None:
        req: api_pb2.FunctionCallCancelRequest = await self._request(stream, "FunctionCallCancel")
        self.fake.cancel_call(req.function_call_id)
        await stream.send_message(empty_pb2.Empty())

    async def FunctionCallFromId(self, stream: Stream) -> None:
        req: api_pb2.FunctionCallFromIdRequest = await self._request(stream, "FunctionCallFromId")
        call = self.fake.require_call(req.function_call_id)
        await stream.send_message(api_pb2.FunctionCallFromIdResponse(
            function_call_id=call.call_id, num_inputs=1,
            metadata=api_pb2.FunctionCallHandleMetadata(function_id=call.function_id, app_id=self.fake.app_id),
        ))

    async def BlobCreate(self, stream: Stream) -> None:
        req: api_pb2.BlobCreateRequest = await self._request(stream, "BlobCreate")
        blob_id = self.fake.new_id("bl")
        url = self.fake.blob_url(blob_id)
        await stream.send_message(api_pb2.BlobCreateResponse(
            blob_id=blob_id, upload_url=url, blob_ids=[blob_id], upload_urls=api_pb2.UploadUrlList(items=[url]),
        ))

    async def BlobGet(self, stream: Stream) -> None:
        req: api_pb2.BlobGetRequest = await self._request(stream, "BlobGet")
        if req.blob_id not in self.fake.blobs:
            raise grpclib.GRPCError(grpclib.const.Status.NOT_FOUND, f"blob {req.blob_id} not found")
        await stream.send_message(api_pb2.BlobGetResponse(download_url=self.fake.blob_url(req.blob_id)))


# Every RPC we did not write answers UNIMPLEMENTED with its name (the base class is abstract).
for _name in list(FakeModalServicer.__abstractmethods__):
    setattr(FakeModalServicer, _name, _unimplemented(_name))
FakeModalServicer.__abstractmethods__ = frozenset()


class FakeModal:
    """The fake control plane: a background event-loop thread serving gRPC + blob HTTP.

    Usage: `fake = FakeModal().start()`; point the client at `fake.url` with `fake.token_id` /
    `fake.token_secret`; `fake.stop()` at the end. Knob methods are safe to call from any thread.
    """

    def __init__(self, body: Body = default_body, app_name: str = "rewardpilot-batch",
                 function_name: str = "score_chunk", workers: int = 2):
        self.body = body
        self.app_id = "ap-fake"
        self.token_id, self.token_secret = TOKEN_ID, TOKEN_SECRET
        self.functions: dict[tuple[str, str], str] = {(app_name, function_name): "fu-fake-score-chunk"}
        self.calls: dict[str, FakeCall] = {}
        self.blobs: dict[str, bytes] = {}
        self.rpc_log: list[str] = []
        self.hold_new_calls = False
        self._fail_next: list[str] = []
        self._timeout_next = 0
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fake-modal-body")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-modal", daemon=True)
        self._grpc: Server | None = None
        self._http: web.AppRunner | None = None
        self.port = 0
        self.http_port = 0

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeModal":
        self._thread.start()
        self._run(self._start_http())
        self._run(self._start_grpc())
        return self

    def stop(self) -> None:
        self._run(self._stop_grpc())
        self._run(self._http.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def restart(self) -> None:
        """Simulate a control-plane restart: drop connections and volatile state, same port.

        Function calls and their results survive (Modal keeps results for 7 days), so a call id
        stored before the restart is still retrievable after it.
        """
        self._run(self._stop_grpc())
        self.rpc_log.clear()
        self._run(self._start_grpc(self.port))

    def reset(self) -> None:
        """Forget every call, blob and knob (between tests sharing one server)."""
        def _reset() -> None:
            self.calls.clear()
            self.blobs.clear()
            self.rpc_log.clear()
            self.hold_new_calls = False
            self._fail_next.clear()
            self._timeout_next = 0
        self._loop.call_soon_threadsafe(_reset)
        self._run(asyncio.sleep(0))

    def _run(self, coro: Coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _start_grpc(self, port: int = 0) -> None:
        sock = _free_socket(port)
        self.port = sock.getsockname()[1]
        self._grpc = Server([FakeModalServicer(self)])
        await self._grpc.start(sock=sock)

    async def _stop_grpc(self) -> None:
        self._grpc.close()
        await self._grpc.wait_closed()

    async def _start_http(self) -> None:
        app = web.Application(client_max_size=1024 ** 3)
        app.router.add_put("/blobs/{blob_id}", self._put_blob)
        app.router.add_get("/blobs/{blob_id}", self._get_blob)
        self._http = web.AppRunner(app)
        await self._http.setup()
        sock = _free_socket()
        self.http_port = sock.getsockname()[1]
        await web.SockSite(self._http, sock).start()

    # ---- knobs (any thread) -----------------------------------------------------------------
    def fail_next(self, n: int = 1, message: str = "remote worker crashed") -> None:
        """The next `n` spawned inputs fail remotely with RuntimeError(message)."""
        self._loop.call_soon_threadsafe(self._fail_next.extend, [message] * n)
        self._run(asyncio.sleep(0))

    def time_out_next(self, n: int = 1) -> None:
        """The next `n` spawned inputs end as if they ran past the function's timeout."""
        def _set() -> None:
            self._timeout_next += n
        self._loop.call_soon_threadsafe(_set)
        self._run(asyncio.sleep(0))

    def release(self, call_id: str | None = None) -> None:
        """Let held calls run: one (by id) or all of them."""
        async def _release() -> None:
            for call in list(self.calls.values()):
                if call.state == "held" and call_id in (None, call.call_id):
                    self._begin(call)
        self._run(_release())

    def expire(self, call_id: str) -> None:
        """Drop a call's output, as Modal does after 7 days: the client raises OutputExpiredError."""
        async def _expire() -> None:
            call = self.require_call(call_id)
            call.state, call.result, call.payload = "expired", None, None
            call.finished.set()
        self._run(_expire())

    def wait_done(self, call_id: str, timeout: float = 30) -> None:
        """Block until a call has a result (done, failed, timed out or cancelled)."""
        async def _wait() -> None:
            await asyncio.wait_for(self.require_call(call_id).finished.wait(), timeout)
        asyncio.run_coroutine_threadsafe(_wait(), self._loop).result(timeout=timeout + 5)

    def state(self, call_id: str) -> str:
        return self.calls[call_id].state

    # ---- server-side behaviour (event-loop thread) -----------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}-fake{next(self._ids):06d}"

    def blob_url(self, blob_id: str) -> str:
        return f"http://127.0.0.1:{self.http_port}/blobs/{blob_id}"

    def function_response(self, function_id: str, name: str) -> api_pb2.FunctionGetResponse:
        function = api_pb2.Function(function_name=name, module_name="backend.modal_app",
                                    resources=api_pb2.Resources(milli_cpu=1000, memory_mb=1024))
        return api_pb2.FunctionGetResponse(
            function_id=function_id,
            handle_metadata=api_pb2.FunctionHandleMetadata(
                function_name=name, function_type=api_pb2.Function.FUNCTION_TYPE_FUNCTION,
                app_id=self.app_id, supported_input_formats=[api_pb2.DATA_FORMAT_PICKLE],
                supported_output_formats=[api_pb2.DATA_FORMAT_PICKLE],
            ),
            function=api_pb2.FunctionData(
                function_name=name,
                ranked_functions=[api_pb2.FunctionData.RankedFunction(rank=0, function=function)],
            ),
        )

    def require_call(self, call_id: str) -> FakeCall:
        call = self.calls.get(call_id)
        if call is None:
            raise grpclib.GRPCError(grpclib.const.Status.NOT_FOUND, f"Function call {call_id} not found")
        return call

    async def add_input(self, call_id: str, function_id: str,
                        item: api_pb2.FunctionPutInputsItem) -> api_pb2.FunctionPutInputsResponseItem:
        args = self.blobs[item.input.args_blob_id] if item.input.args_blob_id else item.input.args
        call = FakeCall(call_id=call_id, input_id=self.new_id("in"), function_id=function_id, payload=None)
        try:
            call.payload = _payload_from_args(args)
        except UnsupportedArguments as exc:
            call.outcome, call.fail_message = "fail", str(exc)
        if self._fail_next:
            call.outcome, call.fail_message = "fail", self._fail_next.pop(0)
        elif self._timeout_next:
            self._timeout_next -= 1
            call.outcome = "timeout"
        self.calls[call_id] = call
        if self.hold_new_calls:
            call.state = "held"
        else:
            self._begin(call)
        return api_pb2.FunctionPutInputsResponseItem(idx=item.idx, input_id=call.input_id,
                                                     input_jwt=f"jwt-{call.input_id}")

    def _begin(self, call: FakeCall) -> None:
        call.state = "running"
        asyncio.ensure_future(self._execute(call))

    async def _execute(self, call: FakeCall) -> None:
        if call.outcome == "timeout":
            result = GR(status=GR.GENERIC_STATUS_TIMEOUT, exception="Function call timed out (fake modal)")
        elif call.outcome == "fail":
            result = await self._failure(RuntimeError(call.fail_message))
        else:
            try:
                value = await self._loop.run_in_executor(self._pool, self.body, call.payload)
                result = await self._success(value)
            except Exception as exc:  # the body's own failure, sent back like a container does
                result = await self._failure(exc)
        if call.state == "running":  # not cancelled / expired meanwhile
            call.state, call.result = "done", result
            call.finished.set()

    async def _success(self, value: Any) -> api_pb2.GenericResult:
        data = serialize(value)
        if len(data) > ASYNC_INLINE_LIMIT:
            blob_id = self.new_id("bl")
            self.blobs[blob_id] = data
            return GR(status=GR.GENERIC_STATUS_SUCCESS, data_blob_id=blob_id)
        return GR(status=GR.GENERIC_STATUS_SUCCESS, data=data)

    async def _failure(self, exc: BaseException) -> api_pb2.GenericResult:
        tb = "".join(traceback.format_exception(exc))
        return GR(status=GR.GENERIC_STATUS_FAILURE, exception=repr(exc), traceback=tb, data=pickle_exception(exc))

    def cancel_call(self, call_id: str) -> None:
        call = self.require_call(call_id)
        if call.state in ("queued", "held", "running"):
            call.state = "cancelled"
            call.result = GR(status=GR.GENERIC_STATUS_TERMINATED, exception="Function call was cancelled")
            call.finished.set()

    async def outputs(self, req: api_pb2.FunctionGetOutputsRequest) -> api_pb2.FunctionGetOutputsResponse:
        call = self.require_call(req.function_call_id)
        if call.result is None and call.state != "expired" and req.timeout > 0:
            try:
                await asyncio.wait_for(call.finished.wait(), min(req.timeout, 55.0))
            except asyncio.TimeoutError:
                pass
        if call.state == "expired":
            return api_pb2.FunctionGetOutputsResponse(num_unfinished_inputs=0)
        if call.result is None:
            return api_pb2.FunctionGetOutputsResponse(num_unfinished_inputs=1)
        item = api_pb2.FunctionGetOutputsItem(result=call.result, idx=0, input_id=call.input_id,
                                              data_format=api_pb2.DATA_FORMAT_PICKLE)
        if req.clear_on_success and call.result.status == GR.GENERIC_STATUS_SUCCESS:
            call.state, call.result = "expired", None
        return api_pb2.FunctionGetOutputsResponse(outputs=[item], idxs=[0], num_unfinished_inputs=0)

    async def _put_blob(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.blobs[request.match_info["blob_id"]] = data
        return web.Response(status=200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

    async def _get_blob(self, request: web.Request) -> web.Response:
        data = self.blobs.get(request.match_info["blob_id"])
        if data is None:
            return web.Response(status=404, text="no such blob")
        return web.Response(status=200, body=data)


def reset_modal_client() -> None:
    """Close and forget modal's process-wide client.

    The client reads MODAL_SERVER_URL and the tokens once, when it is first made, and then
    caches itself; a test that changes them (or simulates a fresh process) calls this.
    Its creation lock is replaced too: a client still being made against an unreachable
    server holds that lock for about a minute, and would stall every later test.
    """
    import modal
    from modal.client import _Client

    if _Client._client_from_env is not None:
        modal.Client.from_env().close()  # returns the cached client; closing un-caches it
    _Client._client_from_env = None
    _Client._client_from_env_lock = None


def point_client_at(monkeypatch, fake: FakeModal) -> None:
    """Aim the real modal client at `fake` for one test: server URL + fake tokens, fresh client.

    modal.config reads these environment variables on every lookup (config.get), but the
    profile file (~/.modal.toml) is read at import: it is emptied here so a developer's real
    profile can never leak into a test.
    """
    import modal.config

    monkeypatch.setattr(modal.config, "_user_config", {})
    monkeypatch.setenv("MODAL_SERVER_URL", fake.url)
    monkeypatch.setenv("MODAL_TOKEN_ID", fake.token_id)
    monkeypatch.setenv("MODAL_TOKEN_SECRET", fake.token_secret)
    reset_modal_client()


def sample_payloads() -> list[bytes]:
    """Real chunk payloads (one per account of the bundled sample statement), for tests."""
    from pathlib import Path

    import pandas as pd

    from backend import engine
    from backend.catalog import load_catalog
    from backend.payload import ROW, encode_chunk
    from backend.wallet import Wallet, parse_wallet

    sample = Path(__file__).resolve().parents[1] / "backend" / "samples" / "sample_statement.csv"
    frame = pd.read_csv(sample, dtype="string", keep_default_na=False)
    prepared = engine.prepare_frame(frame)
    prepared[ROW] = range(len(prepared))
    wallet = Wallet(parse_wallet("amex_business_gold,chase_ink_business_unlimited,capital_one_spark_cash_plus"))
    catalog = load_catalog()
    return [encode_chunk(rows, wallet, catalog) for _, rows in prepared.groupby("user_id", sort=True)]
