/**
 * The MCP SDK client as the benchmarks use it: Streamable HTTP with an
 * optional bearer token, and a call helper that throws when a tool result
 * is an error or any target in it did not finish `ok`.
 *
 * @module
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

export { Client, StdioClientTransport };

/** A connected client and a way to close its session. */
export interface Connected {
  readonly client: Client;
  close(): Promise<void>;
}

/**
 * Connects an SDK client over Streamable HTTP (initialize + initialized).
 *
 * @param url The `/mcp` endpoint.
 * @param token Bearer token, when the server wants one.
 * @returns The client.
 */
export async function connectHttp(url: string, token?: string): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token ? { headers: { authorization: `Bearer ${token}` } } : undefined,
  });
  const client = new Client({ name: "tailops-bench", version: "0.1.0" });
  await client.connect(transport);
  return {
    client,
    async close() {
      await transport.terminateSession().catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

interface ToolResultShape {
  isError?: boolean;
  content?: { type: string; text?: string }[];
  structuredContent?: {
    results?: { target: string; status: string; error?: { message: string } }[];
  };
}

/**
 * Calls a tool and checks the outcome.
 *
 * @param client A connected client.
 * @param name Tool name.
 * @param args Arguments.
 * @param expected The target status every result must have (`planned` for dry runs).
 * @param timeoutMs How long the SDK waits for the answer (its default: 60 s).
 * @returns The structured content.
 * @throws {Error} When the result is an error or a target's status is not `expected`.
 */
export async function callOk(
  client: Client,
  name: string,
  args: Record<string, unknown>,
  expected = "ok",
  timeoutMs?: number,
): Promise<unknown> {
  const result = await client.callTool(
    { name, arguments: args },
    timeoutMs === undefined ? undefined : { timeout: timeoutMs },
  ) as ToolResultShape;
  const failed = result.structuredContent?.results?.find((r) => r.status !== expected);
  if (failed) {
    throw new Error(
      `${name} on ${failed.target}: ${failed.status}: ${failed.error?.message ?? "(no message)"}`,
    );
  }
  if (result.isError) {
    throw new Error(`${name}: ${result.content?.map((c) => c.text ?? "").join(" ")}`);
  }
  return result.structuredContent;
}
