/**
 * The shape the docker and http suites share: one operation through the
 * gateway against the same request made directly, plus a bare SDK MCP call
 * (the protocol's own floor), interleaved in one run.
 *
 * @module
 */
import { callOk, type Connected, connectHttp } from "./_mcp_client.ts";
import { type Served, type ServedGateway, spawnGateway, spawnHelper } from "./_process.ts";
import { type Latencies, ms, rate, ratio, table, timeCalls, timeInterleaved } from "./_util.ts";

/** Thrown when the gateway has no executor for a target type yet. */
export class NotWired extends Error {}

/** A gateway and a bare SDK server, each with a connected client. */
export interface Servers {
  readonly gateway: ServedGateway;
  readonly gwClient: Connected;
  readonly bare: Served;
  readonly bareClient: Connected;
  stop(): Promise<void>;
}

/**
 * Starts the gateway on a targets file and the bare SDK server, and connects a client to each.
 *
 * @param targets Targets file.
 * @param stateDir State dir for the gateway.
 * @returns The servers; call `stop()` when done.
 */
export async function startServers(targets: string, stateDir: string): Promise<Servers> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  };
  try {
    const gateway = await spawnGateway({ targets, stateDir });
    stops.push(gateway.stop);
    const gwClient = await connectHttp(gateway.url, gateway.token);
    stops.push(gwClient.close);
    const bare = await spawnHelper("bare_server.ts");
    stops.push(bare.stop);
    const bareClient = await connectHttp(`http://127.0.0.1:${bare.port}/mcp`);
    stops.push(bareClient.close);
    return { gateway, gwClient, bare, bareClient, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Calls a gateway tool once and turns "no executor" into {@linkcode NotWired}.
 *
 * @param client Gateway client.
 * @param tool Tool name.
 * @param args Arguments.
 * @param type Target type, for the message.
 * @throws {NotWired} When the gateway has no executor for `type`.
 */
export async function checkWired(
  client: Connected,
  tool: string,
  args: Record<string, unknown>,
  type: string,
): Promise<void> {
  try {
    await callOk(client.client, tool, args);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message.includes(`No executor is available for ${type} targets`)) {
      throw new NotWired(`${type} executor not wired`);
    }
    throw error;
  }
}

/** One comparison row set: direct request, bare MCP call, gateway call. */
export interface Comparison {
  readonly label: string;
  readonly direct: Latencies;
  readonly bare: Latencies;
  readonly gateway: Latencies;
  readonly concurrentDirect: Latencies;
  readonly concurrentGateway: Latencies;
}

/**
 * Measures one operation: `count` interleaved rounds of direct, bare MCP and
 * gateway calls after a warm-up, then 16 in flight for direct and gateway.
 *
 * @param label Name of the operation.
 * @param count Rounds.
 * @param calls The three calls.
 * @returns The figures.
 */
export async function compare(
  label: string,
  count: number,
  calls: { direct: () => Promise<void>; bare: () => Promise<void>; gateway: () => Promise<void> },
): Promise<Comparison> {
  for (const call of [calls.direct, calls.bare, calls.gateway]) {
    const warm = await timeCalls(20, 1, call, 30_000);
    if (warm.failures > 0) throw new Error(`${label} warm-up failed: ${warm.firstError}`);
  }
  const [direct, bare, gateway] = await timeInterleaved(
    count,
    [calls.direct, calls.bare, calls.gateway],
    90_000,
  );
  const concurrentDirect = await timeCalls(count, 16, calls.direct, 60_000);
  const concurrentGateway = await timeCalls(count, 16, calls.gateway, 60_000);
  return { label, direct, bare, gateway, concurrentDirect, concurrentGateway };
}

/**
 * The markdown table of comparisons.
 *
 * @param rows Comparisons.
 * @returns The table.
 */
export function comparisonTable(rows: readonly Comparison[]): string {
  return table(
    [
      "Operation",
      "direct p50",
      "bare MCP p50",
      "gateway p50",
      "gateway / direct",
      "gateway / (direct + bare)",
      "gateway p99",
      "16 in flight: direct / gateway calls/s",
      "failed",
    ],
    rows.map((c) => [
      `${c.label} (${c.gateway.count})`,
      ms(c.direct.p50),
      ms(c.bare.p50),
      ms(c.gateway.p50),
      ratio(c.gateway.p50 / c.direct.p50),
      ratio(c.gateway.p50 / (c.direct.p50 + c.bare.p50)),
      ms(c.gateway.p99),
      `${rate(c.concurrentDirect.callsPerSecond)} / ${rate(c.concurrentGateway.callsPerSecond)}`,
      String(c.gateway.failures + c.concurrentGateway.failures),
    ]),
  );
}
