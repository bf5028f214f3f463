"""The MCP server (official SDK, streamable HTTP) served by the same app at ``/mcp``.

Its one route joins the app's own routes instead of being mounted: a ``Mount`` at ``/mcp``
would only match ``/mcp/...``, and the app strips trailing slashes, so ``/mcp`` and ``/mcp/``
both reach it — through the same middlewares (request body checks, admission, metrics) as
REST. Its session manager runs inside the app's lifespan (``app.py``).
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from starlette.routing import BaseRoute

from marketsvc import __version__
from marketsvc.agents.tools import TOOLS, ToolSpec

MCP_PATH = "/mcp"
INSTRUCTIONS = """Market data (crypto and stock prices, OHLCV history, technical indicators,
news, company fundamentals) from several public providers behind one cache. Symbols look like
BTC, ETH-USD, AAPL or BRK.B. Answers say where they came from (source) and how fresh they are
(freshness, age_seconds); sandbox: true means synthetic data."""


def build_mcp_server(tools: tuple[ToolSpec, ...] = TOOLS) -> MCPServer:
    """The SDK's constructor calls ``logging.basicConfig``: a no-op once ``app.py`` has
    installed the service's JSON handler, which it does first."""
    server: MCPServer = MCPServer(
        "marketsvc", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    read_only = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=True)
    for tool in tools:
        server.add_tool(
            tool.fn,
            name=tool.name,
            title=tool.title,
            description=tool.description,
            annotations=read_only,
        )
    return server


def mcp_routes(server: MCPServer) -> tuple[list[BaseRoute], StreamableHTTPSessionManager]:
    """The ``/mcp`` route(s) and the session manager whose ``run()`` the lifespan enters."""
    inner = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        # Stateless, plain JSON answers: the tools are read-only request/response calls, so any
        # replica behind a load balancer can answer any call (no in-memory session to stick
        # to) and no long-lived SSE stream holds an admission slot.
        stateless_http=True,
        json_response=True,
        # DNS-rebinding protection off: the SDK's default allows only localhost Host headers,
        # which would refuse every deployment behind a name; the tools read what the public
        # REST API already serves, to anyone, without it.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    return list(inner.routes), server.session_manager
