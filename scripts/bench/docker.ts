/**
 * Suite "docker" (issue 4): `container_list` and `container_inspect` through
 * the gateway against the same Engine API requests made directly over the
 * unix socket, on a real dockerd testbed, in the same run, with a bare SDK
 * MCP call as the protocol's floor.
 *
 * @module
 */
import { DockerdTestbed } from "../testbed/dockerd.ts";
import { callOk } from "./_mcp_client.ts";
import {
  checkWired,
  compare,
  type Comparison,
  comparisonTable,
  NotWired,
  startServers,
} from "./_compare.ts";
import { atMost, type BenchOptions, info, ratio, type SuiteReport, zero } from "./_util.ts";

const SUITE = "docker";
const CONTAINERS = 3;

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer iterations.
 * @returns Tables and metrics, or `skipped` when the docker executor is not wired.
 */
export async function runDocker(options: BenchOptions): Promise<SuiteReport> {
  const count = options.quick ? 100 : 300;
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-docker-" });
  const testbed = await DockerdTestbed.start();
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: testbed.socket } });
  try {
    for (let i = 0; i < CONTAINERS; i++) {
      await testbed.runContainer(`bench-${i}`, { labels: { "tailops.bench": String(i) } });
    }
    const targets = `${dir}/targets.yaml`;
    await Deno.writeTextFile(
      targets,
      [
        "version: 1",
        "targets:",
        "  - id: engine",
        "    type: docker",
        "    capabilities: [container:read]",
        `    connection: { socket: ${JSON.stringify(testbed.socket)} }`,
        "    constraints: { concurrency: 16 }",
        "",
      ].join("\n"),
    );
    const direct = (path: string) => async () => {
      const response = await fetch(`http://docker${path}`, { client });
      if (!response.ok) throw new Error(`Engine answered ${response.status} for ${path}`);
      await response.json();
    };
    const servers = await startServers(targets, `${dir}/state`);
    try {
      const gw = servers.gwClient.client;
      await checkWired(servers.gwClient, "container_list", { target: "engine" }, "docker");
      const bare = async () => {
        await callOk(servers.bareClient.client, "echo", { text: "containers" });
      };
      const results: Comparison[] = [
        await compare("container_list", count, {
          direct: direct("/containers/json"),
          bare,
          gateway: async () => {
            await callOk(gw, "container_list", { target: "engine" });
          },
        }),
        await compare("container_inspect", count, {
          direct: direct("/containers/bench-0/json"),
          bare,
          gateway: async () => {
            await callOk(gw, "container_inspect", { target: "engine", container: "bench-0" });
          },
        }),
      ];
      const note = `A dockerd testbed on a unix socket with ${CONTAINERS} running busybox ` +
        "containers. Direct: `fetch` through `Deno.createHttpClient` with a unix proxy to " +
        "`/containers/json` and `/containers/bench-0/json`, body parsed. Gateway: the same " +
        "requests through auth, gate, audit and the sandboxed docker worker, results parsed " +
        "and redacted. Bare MCP: the SDK server's `echo` tool over Streamable HTTP.";
      return {
        title: "Docker operations through the gateway vs the Engine API directly",
        blocks: [comparisonTable(results), note],
        metrics: results.flatMap((r) => [
          atMost(
            SUITE,
            `${r.label} p50, gateway / direct`,
            r.gateway.p50 / r.direct.p50,
            1.3,
            ratio,
          ),
          info(
            SUITE,
            `${r.label} p50, gateway / (direct + bare MCP)`,
            ratio(r.gateway.p50 / (r.direct.p50 + r.bare.p50)),
          ),
          zero(
            SUITE,
            `${r.label} failed calls`,
            r.gateway.failures + r.concurrentGateway.failures,
          ),
        ]),
      };
    } finally {
      await servers.stop();
    }
  } catch (error) {
    if (error instanceof NotWired) {
      return { title: "docker", blocks: [], metrics: [], skipped: error.message };
    }
    throw error;
  } finally {
    client.close();
    await testbed.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
