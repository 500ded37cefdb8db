"""pdsearch as an MCP server, for AI assistants (DESIGN.md 2.6).

- ``schemas``: what the tools take and answer (input and output schemas), and the
  ``OnCallAnswerer`` protocol the service plugs in for ``who_is_on_call``;
- ``tools``: ``McpTools``, the tools' work as one named person, through ``pdsearch.search``;
- ``server``: ``build_server(tools, person)``, the SDK's ``MCPServer`` with the three read-only
  tools (run it over stdio with ``server.run()``: ``pdsearch mcp --user EMAIL``);
- ``http``: the streamable HTTP transport, mounted at ``/mcp`` by ``pdsearch serve``.
"""
