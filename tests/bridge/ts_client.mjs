// The official TypeScript MCP SDK clients against a URL: `v1` is @modelcontextprotocol/sdk (1.x),
// `v2` is @modelcontextprotocol/client (2.x). Connects over Streamable HTTP (`http`) or the legacy
// SSE transport (`sse`), lists the tools, calls echo, closes, and prints what it saw as one JSON line.
// Usage: node ts_client.mjs v1|v2 http|sse URL [TOKEN]
const [generation, transportName, url, token] = process.argv.slice(2);

async function load() {
  if (generation === "v1") {
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    const { SSEClientTransport } = await import("@modelcontextprotocol/sdk/client/sse.js");
    return { Client, StreamableHTTPClientTransport, SSEClientTransport };
  }
  return await import("@modelcontextprotocol/client");
}

const sdk = await load();
const headers = token ? { Authorization: `Bearer ${token}` } : {};
const options = { requestInit: { headers } };
if (transportName === "sse" && token) {
  // The SSE stream's GET goes through EventSource, which takes its headers from a fetch.
  options.eventSourceInit = { fetch: (u, init) => fetch(u, { ...init, headers: { ...init?.headers, ...headers } }) };
}
const transport =
  transportName === "sse"
    ? new sdk.SSEClientTransport(new URL(url), options)
    : new sdk.StreamableHTTPClientTransport(new URL(url), options);
const client = new sdk.Client({ name: `ts-sdk-${generation}`, version: "1.0.0" });
try {
  await client.connect(transport);
  const tools = await client.listTools();
  const called = await client.callTool({ name: "echo", arguments: { message: "hello from the TS SDK" } });
  const server = client.getServerVersion();
  const protocol = transport.protocolVersion ?? client.getNegotiatedProtocolVersion?.() ?? null;
  if (transportName === "http") await transport.terminateSession?.();
  console.log(
    JSON.stringify({
      server,
      protocol,
      tools: tools.tools.map((t) => t.name),
      text: called.content?.[0]?.text ?? null,
    }),
  );
} catch (error) {
  console.log(JSON.stringify({ error: String(error?.message ?? error), code: error?.code ?? null }));
} finally {
  await client.close();
}
