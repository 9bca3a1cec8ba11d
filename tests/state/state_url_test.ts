import assert from "node:assert/strict";
import { parsePostgresUrl, readStateUrl } from "../../src/state/state_url.ts";

Deno.test("parsePostgresUrl() reads a TCP URL and a unix-socket URL", () => {
  const tcp = parsePostgresUrl("postgres://tailops@db.internal:6432/state");
  assert.equal(tcp.host, "db.internal");
  assert.equal(tcp.port, 6432);
  assert.equal(tcp.user, "tailops");
  assert.equal(tcp.database, "state");
  assert.equal(tcp.display, "postgres://tailops@db.internal:6432/state");
  const socket = parsePostgresUrl("postgresql://tailops@/tailops?host=/run/postgresql&port=5433");
  assert.equal(socket.host, "/run/postgresql");
  assert.equal(socket.port, 5433);
  assert.equal(socket.display, "postgres://tailops@unix:/run/postgresql/.s.PGSQL.5433/tailops");
});

Deno.test("parsePostgresUrl() refuses a password in the flag and never echoes it", () => {
  assert.throws(
    () => parsePostgresUrl("postgres://tailops:hunter2@db/tailops"),
    (error: Error) => /secret reference/.test(error.message) && !error.message.includes("hunter2"),
  );
});

Deno.test("parsePostgresUrl() refuses other schemes, missing users and bad ports", () => {
  for (const bad of ["mysql://u@h/d", "postgres://h/d", "postgres://u@h:99999/d", "db.internal"]) {
    assert.throws(() => parsePostgresUrl(bad), TypeError, bad);
  }
  assert.throws(() => parsePostgresUrl("postgres://u@h/d?sslmode=maybe"), /sslmode/);
});

Deno.test("readStateUrl() takes the password from a secret reference and hides it", async () => {
  Deno.env.set("TAILOPS_TEST_PG_URL", "postgres://tailops:s3cr%40t@127.0.0.1:5432/tailops");
  try {
    const target = await readStateUrl("${TAILOPS_TEST_PG_URL}");
    assert.equal(target.password?.reveal(), "s3cr@t");
    assert.equal(target.display, "postgres://tailops@127.0.0.1:5432/tailops");
    assert.doesNotMatch(JSON.stringify(target), /s3cr/);
  } finally {
    Deno.env.delete("TAILOPS_TEST_PG_URL");
  }
  await assert.rejects(readStateUrl("${TAILOPS_TEST_PG_UNSET}"), /not set/);
});
