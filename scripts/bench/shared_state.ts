/**
 * Suite "shared" (issue 13): what the PostgreSQL state backend costs per
 * call against the embedded default, in the same run: one gateway on each,
 * the same `list_directory` call alternated between them. Also calls/s of
 * two gateways sharing the database against one (16 calls in flight in
 * total, spread over both). With the admin token a call's shared-state work
 * is one rate-limit statement plus the audit mirror's batched inserts.
 *
 * @module
 */
import { POSTGRES_MISSING, PostgresTestbed } from "../testbed/postgres.ts";
import { callOk, connectHttp } from "./_mcp_client.ts";
import { spawnGateway } from "./_process.ts";
import { makeFixture } from "./gateway.ts";
import {
  type BenchOptions,
  info,
  ms,
  rate,
  ratio,
  type SuiteReport,
  table,
  timeCalls,
  timeInterleaved,
  zero,
} from "./_util.ts";

const SUITE = "shared";

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer iterations.
 * @returns Tables and metrics, or a skip reason when PostgreSQL is not installed.
 */
export async function runShared(options: BenchOptions): Promise<SuiteReport> {
  if (POSTGRES_MISSING) {
    return { title: "Shared state", blocks: [], metrics: [], skipped: POSTGRES_MISSING };
  }
  const sequential = options.quick ? 150 : 400;
  const concurrent = options.quick ? 320 : 960;
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-shared-" });
  const stops: (() => Promise<void>)[] = [];
  try {
    const pg = await PostgresTestbed.start();
    stops.push(() => pg.stop());
    const { targets, files } = await makeFixture(dir);
    const shared = ["--fsync", "batch", "--state-url", pg.socketUrl];
    const embedded = await spawnGateway({ targets, stateDir: `${dir}/embedded` });
    stops.unshift(embedded.stop);
    const gateways = [];
    for (const name of ["pg-a", "pg-b"]) {
      const g = await spawnGateway({ targets, stateDir: `${dir}/${name}`, extraArgs: shared });
      stops.unshift(g.stop);
      gateways.push(g);
    }
    const clients: Awaited<ReturnType<typeof connectHttp>>["client"][] = [];
    for (const g of [embedded, ...gateways]) {
      const c = await connectHttp(g.url, g.token);
      stops.unshift(c.close);
      clients.push(c.client);
    }
    const caller = (i: number) => async () => {
      await callOk(clients[i], "list_directory", { target: "bench", path: files });
    };
    for (let i = 0; i < clients.length; i++) await timeCalls(30, 1, caller(i));
    const [emb, pgSeq] = await timeInterleaved(sequential, [caller(0), caller(1)], 90_000);
    const one = await timeCalls(concurrent, 16, caller(1), 60_000);
    const two = await timeCalls(concurrent, 16, (i) => caller(1 + (i % 2))(), 60_000);
    const results = table(["Measure", "embedded", "PostgreSQL", "PostgreSQL / embedded"], [
      [
        `sequential p50 (${pgSeq.count} calls each, alternated)`,
        ms(emb.p50),
        ms(pgSeq.p50),
        ratio(pgSeq.p50 / emb.p50),
      ],
      ["sequential p99", ms(emb.p99), ms(pgSeq.p99), ratio(pgSeq.p99 / emb.p99)],
    ]);
    const scale = table(["Measure", "one gateway", "two gateways", "two / one"], [
      [
        `16 in flight calls/s (${one.count} calls)`,
        rate(one.callsPerSecond),
        rate(two.callsPerSecond),
        ratio(two.callsPerSecond / one.callsPerSecond),
      ],
      ["16 in flight p50", ms(one.p50), ms(two.p50), ratio(two.p50 / one.p50)],
    ]);
    const failures = emb.failures + pgSeq.failures + one.failures + two.failures;
    const note =
      "PostgreSQL 15 from `scripts/testbed/postgres.ts` on a unix socket in a temp dir " +
      "(fsync off: a test cluster). Every gateway here shares the machine's cores with the " +
      "database and the client, so two gateways cannot add capacity on a 2-core machine; the " +
      "figure shows the shared limiter and audit mirror do not serialise them." +
      (failures > 0
        ? `\n\nFirst failure: ${[emb, pgSeq, one, two].find((l) => l.firstError)?.firstError}`
        : "");
    return {
      title: "Shared state: PostgreSQL backend vs embedded (Streamable HTTP)",
      blocks: [results, scale, note],
      metrics: [
        info(SUITE, "per-call p50, PostgreSQL / embedded", ratio(pgSeq.p50 / emb.p50)),
        info(SUITE, "calls/s, two gateways / one", ratio(two.callsPerSecond / one.callsPerSecond)),
        zero(SUITE, "failed calls", failures),
      ],
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
