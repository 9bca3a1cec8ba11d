/**
 * The baseline MCP server: the SDK's `McpServer` with
 * `WebStandardStreamableHTTPServerTransport` served by `Deno.serve`, stateful
 * sessions like the gateway's, no auth, no gate, no audit. Three tools:
 * `list_directory` does the gateway's `list_directory` work in-process
 * (real path, read the directory, lstat each entry), `write_file` writes a
 * file atomically (temp, fsync, rename) and `echo` returns a small
 * structured result.
 *
 * Run: `deno run -A scripts/bench/bare_server.ts`; logs
 * `{"message":"Listening on ...","port":N}` on stderr. With `--stdio` it
 * serves one client over stdio instead.
 *
 * @module
 */
import { z } from "zod";
import { McpServer, WebStandardStreamableHTTPServerTransport } from "../../src/mcp/sdk.ts";
import { StdioServerTransport } from "../../src/mcp/sdk_stdio.ts";

const entrySchema = z.object({
  name: z.string(),
  type: z.enum(["file", "directory", "symlink", "other"]),
  size: z.number().nullable(),
  mtime: z.string().nullable(),
  mode: z.string().nullable(),
});

async function listDirectory(path: string, limit: number) {
  const real = await Deno.realPath(path);
  const entries: z.infer<typeof entrySchema>[] = [];
  for await (const entry of Deno.readDir(real)) {
    if (entries.length >= limit) break;
    const info = await Deno.lstat(`${real}/${entry.name}`);
    entries.push({
      name: entry.name,
      type: info.isFile
        ? "file"
        : info.isDirectory
        ? "directory"
        : info.isSymlink
        ? "symlink"
        : "other",
      size: info.size,
      mtime: info.mtime?.toISOString() ?? null,
      mode: info.mode === null ? null : (info.mode & 0o7777).toString(8),
    });
  }
  return { path: real, entries, truncated: false };
}

/** The bare server's file write: temp file, fsync, rename (the gateway's file_write does the same). */
function writeAtomically(path: string, content: string): number {
  const data = new TextEncoder().encode(content);
  const temp = `${path}.tmp-${crypto.randomUUID()}`;
  const file = Deno.openSync(temp, { write: true, createNew: true, mode: 0o644 });
  try {
    for (let at = 0; at < data.length;) at += file.writeSync(data.subarray(at));
    file.syncDataSync();
  } finally {
    file.close();
  }
  Deno.renameSync(temp, path);
  return data.length;
}

function createServer(): McpServer {
  const server = new McpServer({ name: "bare", version: "0.0.0" });
  server.registerTool("list_directory", {
    description: "Lists a directory",
    inputSchema: { path: z.string(), limit: z.int().min(1).max(1000).default(200) },
    outputSchema: {
      path: z.string(),
      entries: z.array(entrySchema),
      truncated: z.boolean(),
    },
  }, async ({ path, limit }) => {
    const out = await listDirectory(path, limit);
    return {
      content: [{ type: "text", text: `${out.path}: ${out.entries.length} entries` }],
      structuredContent: out,
    };
  });
  server.registerTool("write_file", {
    description: "Writes a file atomically (temp file, fsync, rename), as file_write does",
    inputSchema: { path: z.string(), content: z.string().max(100_000) },
    outputSchema: { path: z.string(), bytes: z.number() },
  }, ({ path, content }) => {
    const bytes = writeAtomically(path, content);
    return {
      content: [{ type: "text", text: `${path}: ${bytes} bytes` }],
      structuredContent: { path, bytes },
    };
  });
  server.registerTool("echo", {
    description: "Returns its text",
    inputSchema: { text: z.string().max(1000) },
    outputSchema: { text: z.string(), length: z.number() },
  }, ({ text }) => ({
    content: [{ type: "text", text }],
    structuredContent: { text, length: text.length },
  }));
  return server;
}

const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();

async function handle(request: Request): Promise<Response> {
  const id = request.headers.get("mcp-session-id");
  if (id !== null) {
    const transport = sessions.get(id);
    if (!transport) return new Response("Session not found", { status: 404 });
    return await transport.handleRequest(request);
  }
  const server = createServer();
  const transport: WebStandardStreamableHTTPServerTransport =
    new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: (sid: string) => void sessions.set(sid, transport),
      onsessionclosed: (sid: string) => void sessions.delete(sid),
    });
  await server.connect(transport);
  return await transport.handleRequest(request);
}

if (import.meta.main && Deno.args.includes("--stdio")) {
  await createServer().connect(new StdioServerTransport());
} else if (import.meta.main) {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);
  console.error(JSON.stringify({ message: "Listening on /mcp", port: server.addr.port }));
  const stop = () => server.shutdown().finally(() => Deno.exit(0));
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}
