/**
 * The PostgreSQL client's failure rules against a real server: a statement
 * whose connection was terminated is sent again when it is idempotent (and
 * only then), a statement the server refuses is one sentence that leaves the
 * state healthy, and nothing the driver throws escapes as anything but a
 * {@linkcode StateUnavailableError}.
 *
 * @module
 */
import assert from "node:assert/strict";
import { POSTGRES_MISSING, PostgresTestbed } from "../../scripts/testbed/postgres.ts";
import { PgClient } from "../../src/state/postgres.ts";
import { StateUnavailableError } from "../../src/state/state_error.ts";
import { readStateUrl } from "../../src/state/state_url.ts";

const ignore = POSTGRES_MISSING !== undefined;

const TERMINATE_OTHERS =
  "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tailops'";

Deno.test({
  name:
    "a statement whose connection was terminated is sent again only when idempotent; otherwise it is refused as unavailable",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    const db = await PgClient.connect(await readStateUrl(pg.socketUrl), { probeMs: 60_000 });
    try {
      await db.run("create a table", (sql) => sql`CREATE TABLE once_test (n int)`);
      for (let round = 0; round < 5; round++) {
        await pg.sql(TERMINATE_OTHERS);
        const rows = await db.run("read", (sql) => sql<{ one: number }[]>`SELECT 1 AS one`, {
          idempotent: true,
        });
        assert.equal(rows[0].one, 1, `round ${round}`);
        assert.equal(db.health.ok, true);
      }
      // Not idempotent: when the statement may have reached the dead
      // connection, it is not sent again (the insert happens at most once).
      let refused = 0;
      for (let round = 0; round < 5; round++) {
        await pg.sql(TERMINATE_OTHERS);
        try {
          await db.run("insert", (sql) => sql`INSERT INTO once_test VALUES (${round})`);
        } catch (error) {
          assert.ok(error instanceof StateUnavailableError, String(error));
          assert.match(error.message, /^Cannot insert: the shared state database is unreachable/);
          refused++;
          // The probe (run here by hand) finds the server back.
          await db.run("probe", (sql) => sql`SELECT 1`, { probe: true, idempotent: true });
        }
      }
      const inserted = Number(await pg.sql("SELECT count(*) FROM once_test"));
      assert.equal(inserted + refused, 5, `${inserted} inserted, ${refused} refused`);
      assert.equal(await pg.sql("SELECT count(DISTINCT n) FROM once_test"), String(inserted));
    } finally {
      await db.close();
    }
  },
});

Deno.test({
  name:
    "a statement the server refuses is one sentence with its SQLSTATE, never the driver's text, and the state stays healthy",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    const db = await PgClient.connect(await readStateUrl(pg.socketUrl));
    try {
      for (
        const [statement, code] of [
          ["SELECT * FROM no_such_table", "42P01"],
          ["SELECT 1/0", "22012"],
        ] as const
      ) {
        const error = await db.run("read", (sql) => sql.unsafe(statement), { idempotent: true })
          .then(() => undefined, (e) => e);
        assert.ok(error instanceof StateUnavailableError, String(error));
        assert.equal(
          error.message,
          `Cannot read: the shared state database refused the statement (error ${code}); refused to stay safe`,
        );
        assert.equal(db.health.ok, true);
      }
    } finally {
      await db.close();
    }
  },
});
