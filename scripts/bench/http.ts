/**
 * Suite "http" (issue 4): `http_request` GET through the gateway against a
 * direct `fetch` of the same loopback JSON endpoint, in the same run, with a
 * bare SDK MCP call as the protocol's floor.
 *
 * @module
 */
import { callOk } from "./_mcp_client.ts";
import { checkWired, compare, comparisonTable, NotWired, startServers } from "./_compare.ts";
import { spawnHelper } from "./_process.ts";
import { atMost, type BenchOptions, info, ratio, type SuiteReport, zero } from "./_util.ts";

const SUITE = "http";

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer iterations.
 * @returns Tables and metrics, or `skipped` when the HTTP executor is not wired.
 */
export async function runHttp(options: BenchOptions): Promise<SuiteReport> {
  const count = options.quick ? 100 : 300;
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-http-" });
  const endpoint = await spawnHelper("json_endpoint.ts");
  try {
    const base = `http://127.0.0.1:${endpoint.port}`;
    const targets = `${dir}/targets.yaml`;
    await Deno.writeTextFile(
      targets,
      [
        "version: 1",
        "targets:",
        "  - id: api",
        "    type: http",
        "    capabilities: [http:read]",
        `    connection: { base_url: ${JSON.stringify(base)} }`,
        "    constraints: { concurrency: 16 }",
        "",
      ].join("\n"),
    );
    const servers = await startServers(targets, `${dir}/state`);
    try {
      const args = { target: "api", method: "GET", path: "/json" };
      await checkWired(servers.gwClient, "http_request", args, "http");
      const result = await compare("http_request GET /json", count, {
        direct: async () => {
          const response = await fetch(`${base}/json`);
          if (!response.ok) throw new Error(`Direct GET answered ${response.status}`);
          await response.json();
        },
        bare: async () => {
          await callOk(servers.bareClient.client, "echo", { text: "GET /json" });
        },
        gateway: async () => {
          await callOk(servers.gwClient.client, "http_request", args);
        },
      });
      const note = "The endpoint is a Deno.serve process on loopback answering ~200 bytes of " +
        "JSON. Direct: `fetch` with keep-alive from the bench process. Gateway: `http_request` " +
        "through auth, gate, audit and the sandboxed HTTP worker. Bare MCP: the SDK server's " +
        "`echo` tool over Streamable HTTP (what any MCP wrapper pays at least).";
      return {
        title: "http_request through the gateway vs direct fetch",
        blocks: [comparisonTable([result]), note],
        metrics: [
          atMost(
            SUITE,
            "http_request p50, gateway / direct",
            result.gateway.p50 / result.direct.p50,
            1.3,
            ratio,
          ),
          info(
            SUITE,
            "http_request p50, gateway / (direct + bare MCP)",
            ratio(result.gateway.p50 / (result.direct.p50 + result.bare.p50)),
          ),
          zero(
            SUITE,
            "http_request failed calls",
            result.gateway.failures + result.concurrentGateway.failures,
          ),
        ],
      };
    } finally {
      await servers.stop();
    }
  } catch (error) {
    if (error instanceof NotWired) {
      return { title: "http", blocks: [], metrics: [], skipped: error.message };
    }
    throw error;
  } finally {
    await endpoint.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
