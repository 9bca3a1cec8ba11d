/**
 * A real gateway on a real PostgreSQL that dies and comes back: killed,
 * stopped by fast shutdown, its backends terminated, between calls and
 * under a call that waits on a lock. Every call answers `ok` or
 * `shared_state_unavailable` (never `internal`); a statement whose
 * connection died under it is sent again when that is safe; once the server
 * is back and `/readyz` says so, calls work again, and the gateway serves
 * throughout.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { PsqlSession } from "../../scripts/testbed/postgres.ts";
import { call, type Called } from "./_mcp_checks.ts";
import {
  type Cluster,
  cluster,
  eventually,
  POSTGRES_MISSING,
  SHARED_POLICY as POLICY,
} from "./_shared_state.ts";

const ignore = POSTGRES_MISSING !== undefined;
if (ignore) console.warn(`Skipping shared state restart tests: ${POSTGRES_MISSING}`);

const UNAVAILABLE =
  /^shared_state_unavailable: Cannot take a rate-limit token: the shared state database is unreachable \([^)]+\); refused to stay safe$/;

/**
 * One gateway on its own PostgreSQL, and `local()`: system_status through
 * its admin client (the admin token skips revocation checks, so only the
 * rate limit needs the database).
 */
async function gatewayOnPostgres() {
  const c = await cluster(1, POLICY);
  const g = c.gateways[0];
  const token = (await Deno.readTextFile(`${g.stateDir}/admin.token`)).trim();
  const client = await g.connect({ token });
  return {
    c,
    local: () => call(client, "system_status", { target: "local" }),
    /** Runs the test's steps; a failure carries the gateway's last log lines. */
    async explained(steps: () => Promise<void>): Promise<void> {
      try {
        await steps();
      } catch (error) {
        const log = (g.process?.stderr() ?? "(not running)").slice(-4000);
        throw new Error(`${(error as Error).message}\nGateway log:\n${log}`, { cause: error });
      }
    },
    [Symbol.asyncDispose]: () => c[Symbol.asyncDispose](),
  };
}

/** /readyz's status; 0 when the request itself failed (a kept-alive connection closing as it is reused). */
function status(c: Cluster): () => Promise<number> {
  return async () => {
    try {
      const response = await fetch(`http://127.0.0.1:${c.gateways[0].port}/readyz`);
      await response.body?.cancel();
      return response.status;
    } catch {
      return 0;
    }
  };
}

/** The answer is a success or the one-line refusal; anything else fails with the gateway's ERROR lines. */
function assertOkOrUnavailable(c: Cluster, result: Called, when: string): "ok" | "unavailable" {
  if (!result.isError) return "ok";
  const errors = (c.gateways[0].process?.stderr() ?? "").split("\n")
    .filter((l) => l.includes('"ERROR"') && !l.includes("is unreachable"));
  assert.match(result.text, UNAVAILABLE, `${when}: ${result.text}\n${errors.join("\n")}`);
  return "unavailable";
}

/** Blocks every rate-limit take on a table lock held by a psql session. */
async function lockBuckets(c: Cluster): Promise<PsqlSession> {
  const session = c.pg.session();
  await session.send("BEGIN;");
  await session.send("LOCK TABLE tailops_rate_buckets IN ACCESS EXCLUSIVE MODE;");
  await session.send("\\echo locked");
  await session.until("locked");
  return session;
}

/** Waits, inside the server, until a gateway statement is waiting on a lock. */
async function untilWaiting(session: PsqlSession, marker: string): Promise<void> {
  await session.send(`DO $$ BEGIN
    LOOP
      PERFORM pg_stat_clear_snapshot();
      EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
        WHERE application_name = 'tailops' AND wait_event_type = 'Lock');
      PERFORM pg_sleep(0.01);
    END LOOP;
  END $$;`);
  await session.send(`\\echo ${marker}`);
  await session.until(marker);
}

Deno.test({
  name:
    "PostgreSQL killed, fast-stopped or its backends terminated between calls, four times each: every call answers ok or shared_state_unavailable, and calls work once /readyz is back",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using bed = await gatewayOnPostgres();
    const { c, local } = bed;
    const readyz = status(c);
    await bed.explained(async () => {
      for (let round = 0; round < 12; round++) {
        const how = (["kill", "fast shutdown", "terminate"] as const)[round % 3];
        assert.equal((await local()).isError, false, `round ${round}: before the ${how}`);
        if (how === "terminate") {
          // The server stays up: the statement is sent again on a new connection.
          await c.pg.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tailops'",
          );
          const after = await local();
          assert.equal(after.isError, false, `round ${round}: after terminate: ${after.text}`);
          continue;
        }
        await c.pg.kill(how === "kill" ? "SIGKILL" : "SIGINT");
        assertOkOrUnavailable(c, await local(), `round ${round}: after the ${how}`);
        await c.pg.restart();
        assertOkOrUnavailable(c, await local(), `round ${round}: just after the restart`);
        await eventually("/readyz to pass", async () => (await readyz()) === 200 || undefined);
        const again = await local();
        assert.equal(again.isError, false, `round ${round}: after /readyz passed: ${again.text}`);
      }
    });
  },
});

Deno.test({
  name:
    "a call waiting on PostgreSQL is sent again when its backend is terminated and runs once; when the server dies under it, it answers shared_state_unavailable and the gateway recovers",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using bed = await gatewayOnPostgres();
    const { c, local } = bed;
    await bed.explained(async () => {
      assert.equal((await local()).isError, false);

      await using terminating = await lockBuckets(c);
      const first = local();
      await untilWaiting(terminating, "waiting");
      await terminating.send(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tailops' AND wait_event_type = 'Lock';",
      );
      // The statement comes back on a new connection and waits on the lock again.
      await untilWaiting(terminating, "waiting again");
      await terminating.send("COMMIT;");
      const ran = await first;
      assert.equal(ran.isError, false, ran.text);
      const finished = (await c.gateways[0].audit()).filter((r) =>
        r.event === "finished" && r.tool === "system_status"
      );
      assert.equal(finished.length, 2, "one run before, one for the terminated call");

      for (const signal of ["SIGKILL", "SIGINT"] as const) {
        await using holding = await lockBuckets(c);
        const pending = local();
        await untilWaiting(holding, "waiting");
        await c.pg.kill(signal);
        const refused = await pending;
        assert.equal(assertOkOrUnavailable(c, refused, `${signal} under a call`), "unavailable");
        await c.pg.restart();
        await eventually("/readyz to pass", async () => (await status(c)()) === 200 || undefined);
        const again = await local();
        assert.equal(again.isError, false, `after ${signal}: ${again.text}`);
      }
      const lines = (c.gateways[0].process?.stderr() ?? "").split("\n");
      assert.ok(
        !lines.some((l) => l.includes("failed while handling this call")),
        lines.join("\n"),
      );
    });
  },
});
