"""Access for AI agents: the MCP server at ``/mcp`` (tools.py holds the tools)."""

from marketsvc.agents.server import MCP_PATH, build_mcp_server, mcp_routes
from marketsvc.agents.tools import TOOLS, ToolSpec

__all__ = ["MCP_PATH", "TOOLS", "ToolSpec", "build_mcp_server", "mcp_routes"]
