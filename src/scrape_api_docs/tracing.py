"""OpenTelemetry traces: one trace per job, from the API request through the queue to the
worker's crawl, fetches, extraction and each export.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: then no SDK is set up or imported,
and every ``span(None, ...)`` is a ``nullcontext`` (no context switch, no allocation
beyond it). On, spans are batched and sent with OTLP over
HTTP/protobuf; the exporter reads the standard ``OTEL_*`` variables itself (endpoint,
headers, timeout), the resource ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES``.

The tracer is an explicit dependency (``JobContext.tracer``, passed to the crawler), not
the process-wide provider: two services in one test process never share one.

A job's trace crosses the queue as its W3C ``traceparent``: the request that queues the
work passes ``carrier()`` to ``JobQueue.enqueue(trace=...)``; the worker that claims it
continues the trace from ``job.traceparent``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

Kind = Literal["internal", "server", "client", "consumer", "producer"]

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either turns tracing on (the traces one names the full URL, ``.../v1/traces``)."""
TRACEPARENT = "traceparent"


def tracing_wanted(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


@dataclass
class Tracing:
    """A tracer and the provider behind it (flushed and closed by ``shutdown``)."""

    tracer: Tracer
    provider: TracerProvider

    def shutdown(self) -> None:
        with contextlib.suppress(Exception):  # the collector may be gone: never block exit
            self.provider.shutdown()


def build_tracing(environ: Mapping[str, str], service_name: str) -> Tracing | None:
    """Tracing per ``environ``: None (off) without an OTLP endpoint."""
    if not tracing_wanted(environ):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from scrape_api_docs import __version__

    # OTEL_SERVICE_NAME wins over this process's default name; OTEL_RESOURCE_ATTRIBUTES
    # add to them.
    name = environ.get("OTEL_SERVICE_NAME") or service_name
    resource = Resource.create({SERVICE_NAME: name, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return Tracing(provider.get_tracer("scrape_api_docs", __version__), provider)


def span(
    tracer: Tracer | None,
    name: str,
    *,
    parent: str | None = None,
    kind: Kind = "internal",
    attributes: Mapping[str, Any] | None = None,
) -> AbstractContextManager[Span | None]:
    """A span named ``name``, current within the block, child of the current span or of
    the W3C traceparent ``parent`` when given; nothing at all without a tracer. URLs in
    ``attributes`` should pass ``logs.redact_text`` first (credentials in them)."""
    if tracer is None:
        return nullcontext()
    return _span(tracer, name, parent, kind, attributes)


@contextlib.contextmanager
def _span(
    tracer: Tracer,
    name: str,
    parent: str | None,
    kind: Kind,
    attributes: Mapping[str, Any] | None,
) -> Iterator[Span]:
    from opentelemetry.trace import SpanKind

    context = None
    if parent:
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        context = TraceContextTextMapPropagator().extract({TRACEPARENT: parent})
    with tracer.start_as_current_span(
        name,
        context=context,
        kind=SpanKind[kind.upper()],
        attributes={k: v for k, v in (attributes or {}).items() if v is not None},
    ) as current:
        yield current


def carrier() -> str | None:
    """The current span as a W3C ``traceparent`` (None without a valid, sampled one)."""
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    out: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(out)
    return out.get(TRACEPARENT)


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id (hex), None outside a valid span."""
    from opentelemetry.trace import get_current_span

    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
