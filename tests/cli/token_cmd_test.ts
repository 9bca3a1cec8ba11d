import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { decodeJwt } from "jose";
import { DEFAULT_RESOURCE, formatTtl, parseTtl } from "../../src/cli/token_cmd.ts";
import { TOKEN_HELP } from "../../src/cli/help.ts";

async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-cli-token-" });
  try {
    await fn(`${dir}/state`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseTtl() reads minutes, hours, days and plain seconds", () => {
  assert.equal(parseTtl("30m"), 1800);
  assert.equal(parseTtl("8h"), 28800);
  assert.equal(parseTtl("7d"), 604800);
  assert.equal(parseTtl("90"), 90);
  assert.equal(parseTtl("45s"), 45);
  for (const bad of ["", "0", "8x", "-1h", "1.5h", "h", "8 h 2"]) {
    assert.throws(() => parseTtl(bad), /Invalid --ttl .*expected a lifetime such as 30m/);
  }
  assert.equal(formatTtl(28800), "8h");
  assert.equal(formatTtl(90), "90s");
});

Deno.test("token mint prints the token alone on stdout and its id and expiry on stderr", async () => {
  await withStateDir(async (stateDir) => {
    const run = await cli(
      "token",
      "mint",
      "--sub",
      "ci-bot",
      "--role",
      "viewer",
      "--ttl",
      "8h",
      "--state-dir",
      stateDir,
    );
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /^[\w-]+\.[\w-]+\.[\w-]+$/, "stdout is exactly one JWT");
    const claims = decodeJwt(run.out);
    assert.equal(claims.sub, "ci-bot");
    assert.equal(claims.role, "viewer");
    assert.equal(claims.aud, DEFAULT_RESOURCE);
    assert.equal(claims.iss, DEFAULT_RESOURCE);
    assert.equal(claims.exp! - claims.iat!, 8 * 3600);
    assert.match(run.err, new RegExp(`Minted token ${claims.jti} for token:ci-bot`));
    assert.match(run.err, new RegExp(new Date(claims.exp! * 1000).toISOString()));
    assert.match(run.err, /\(in 8h\)/);
  });
});

Deno.test("token mint uses --resource as the audience", async () => {
  await withStateDir(async (stateDir) => {
    const run = await cli(
      "token",
      "mint",
      "--sub=alice",
      "--role=viewer",
      "--ttl=30m",
      "--resource=https://gw.tail1234.ts.net/mcp",
      `--state-dir=${stateDir}`,
    );
    assert.equal(run.code, 0, run.err);
    assert.equal(decodeJwt(run.out).aud, "https://gw.tail1234.ts.net/mcp");
  });
});

Deno.test("token list shows a minted token, and revoked after token revoke", async () => {
  await withStateDir(async (stateDir) => {
    const minted = await cli(
      "token",
      "mint",
      "--sub",
      "alice",
      "--role",
      "viewer",
      "--ttl",
      "1d",
      "--state-dir",
      stateDir,
    );
    const jti = String(decodeJwt(minted.out).jti);
    const before = await cli("token", "list", "--state-dir", stateDir);
    assert.equal(before.code, 0);
    const [header, row] = before.out.split("\n");
    assert.match(header, /^JTI +SUB +ROLE +EXPIRES +STATE$/);
    assert.match(row, new RegExp(`^${jti} +alice +viewer +\\S+Z +active$`));

    const revoked = await cli("token", "revoke", jti, "--state-dir", stateDir);
    assert.equal(revoked.code, 0, revoked.err);
    assert.match(revoked.out, new RegExp(`Revoked token ${jti} \\(token:alice, role viewer\\)`));

    const after = await cli("token", "list", "--json", "--state-dir", stateDir);
    const listed = JSON.parse(after.out);
    assert.equal(listed.length, 1);
    assert.equal(listed[0].jti, jti);
    assert.equal(listed[0].state, "revoked");
    assert.ok(!after.out.includes(minted.out), "the token text is never listed");

    const again = await cli("token", "revoke", jti, "--state-dir", stateDir);
    assert.equal(again.code, 0);
    assert.match(again.out, /already revoked/);
  });
});

Deno.test("token revoke refuses an id that is not in the ledger unless --force", async () => {
  await withStateDir(async (stateDir) => {
    const unknown = "8f0e4b62-0000-4000-8000-000000000000";
    const run = await cli("token", "revoke", unknown, "--state-dir", stateDir);
    assert.equal(run.code, 1);
    assert.match(run.err, /^tailops: No token "8f0e4b62-.*" in the ledger of .*: expected an id/);
    const forced = await cli("token", "revoke", unknown, "--force", "--state-dir", stateDir);
    assert.equal(forced.code, 0, forced.err);
    const bad = await cli("token", "revoke", "not a jti!", "--force", "--state-dir", stateDir);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Invalid token id: expected a UUID, found "not a jti!"/);
  });
});

Deno.test("token mint without --ttl, with a bad --ttl or over the cap is a usage error", async () => {
  await withStateDir(async (stateDir) => {
    const base = ["token", "mint", "--sub", "alice", "--role", "viewer", "--state-dir", stateDir];
    const missing = await cli(...base);
    assert.equal(missing.code, 2);
    assert.equal(
      missing.err,
      "tailops: Missing --ttl: expected tailops token mint --sub NAME --role ROLE --ttl 8h",
    );
    const bad = await cli(...base, "--ttl", "8x");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /Invalid --ttl "8x": expected a lifetime such as 30m, 8h, 7d or seconds/);
    const over = await cli(...base, "--ttl", "31d");
    assert.equal(over.code, 2);
    assert.match(
      over.err,
      /Invalid --ttl "31d": expected at most 30d \(2592000 seconds\), found 2678400 seconds/,
    );
    assert.equal(missing.out + bad.out + over.out, "", "nothing on stdout");
    const listed = await cli("token", "list", "--json", "--state-dir", stateDir);
    assert.deepEqual(JSON.parse(listed.out), [], "nothing was minted");
  });
});

Deno.test("token mint honours the policy's token cap and roles with --policy", async () => {
  await withStateDir(async (stateDir) => {
    const policy = await Deno.makeTempFile({ suffix: ".yaml" });
    try {
      await Deno.writeTextFile(
        policy,
        `version: 1
rules: []
identities:
  roles:
    viewer: { scopes: [system:read] }
auth:
  gateway_tokens: { max_ttl_seconds: 3600 }
`,
      );
      const base = ["token", "mint", "--sub", "alice", "--state-dir", stateDir, "--policy", policy];
      const long = await cli(...base, "--role", "viewer", "--ttl", "8h");
      assert.equal(long.code, 2);
      assert.match(long.err, /expected at most 1h \(3600 seconds from .*\), found 28800 seconds/);
      const role = await cli(...base, "--role", "operator", "--ttl", "1h");
      assert.equal(role.code, 2);
      assert.match(role.err, /Unknown role "operator" in .*: expected one of viewer/);
      const ok = await cli(...base, "--role", "viewer", "--ttl", "1h");
      assert.equal(ok.code, 0, ok.err);
    } finally {
      await Deno.remove(policy);
    }
  });
});

Deno.test("token rejects bad subjects, unknown flags and unknown commands", async () => {
  await withStateDir(async (stateDir) => {
    const admin = await cli(
      "token",
      "mint",
      "--sub",
      "admin",
      "--role",
      "viewer",
      "--ttl",
      "1h",
      "--state-dir",
      stateDir,
    );
    assert.equal(admin.code, 2);
    assert.match(admin.err, /Invalid subject: "admin" is reserved/);
    const flag = await cli("token", "list", "--bogus");
    assert.equal(flag.code, 2);
    assert.match(flag.err, /Unknown option '--bogus'/);
    const unknown = await cli("token", "frob");
    assert.equal(unknown.code, 2);
    assert.match(unknown.err, /Unknown token command "frob": expected mint, list, revoke/);
  });
});

Deno.test("token rotate-key keeps old tokens listed and prints the new key id", async () => {
  await withStateDir(async (stateDir) => {
    await cli("token", "mint", "--sub=a", "--role=viewer", "--ttl=1h", `--state-dir=${stateDir}`);
    const rotated = await cli("token", "rotate-key", "--state-dir", stateDir);
    assert.equal(rotated.code, 0, rotated.err);
    assert.match(rotated.out, /^Rotated the gateway key: new kid [\w-]{43}$/);
    const listed = await cli("token", "list", "--json", "--state-dir", stateDir);
    assert.equal(JSON.parse(listed.out)[0].state, "active");
  });
});

Deno.test("token --help prints the help text, which names the resource rule", async () => {
  const run = await cli("token", "--help");
  assert.equal(run.code, 0);
  assert.equal(run.out, TOKEN_HELP);
  assert.match(TOKEN_HELP, /canonical resource URI/);
  assert.match(TOKEN_HELP, /--public-url/);
});

Deno.test("token list falls back to TAILOPS_STATE_DIR", async () => {
  await withStateDir(async (stateDir) => {
    await cli("token", "mint", "--sub=b", "--role=viewer", "--ttl=1h", `--state-dir=${stateDir}`);
    Deno.env.set("TAILOPS_STATE_DIR", stateDir);
    try {
      const run = await cli("token", "list", "--json");
      assert.equal(JSON.parse(run.out)[0].sub, "b");
    } finally {
      Deno.env.delete("TAILOPS_STATE_DIR");
    }
  });
});
