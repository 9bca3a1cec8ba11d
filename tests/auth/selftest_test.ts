import assert from "node:assert/strict";
import { ensureAdminToken } from "../../src/auth/bootstrap_token.ts";
import { loadOrCreateGatewayKey } from "../../src/auth/gateway_key.ts";
import { mintToken } from "../../src/auth/gateway_tokens.ts";
import { formatSelftestReport, runSelftest } from "../../src/auth/selftest.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { startFakeGateway } from "./_fake_gateway.ts";
import { startIssuer } from "./_issuer.ts";
import { tempStateDir } from "./_helpers.ts";

const identities = identitiesSchema.parse({ roles: { viewer: { scopes: ["system:read"] } } });

async function prepare() {
  const stateDir = await tempStateDir();
  await ensureAdminToken(stateDir);
  await loadOrCreateGatewayKey(stateDir);
  return stateDir;
}

Deno.test("runSelftest() passes every check against a protected gateway", async () => {
  const stateDir = await prepare();
  const gateway = await startFakeGateway(stateDir, { identities });
  try {
    const other = await mintToken(stateDir, {
      sub: "viewer-bot",
      role: "viewer",
      ttlSeconds: 300,
      resource: gateway.url,
    });
    const report = await runSelftest(gateway.url, { stateDir, otherToken: other.token });
    const text = formatSelftestReport(report);
    assert.equal(report.ok, true, text);
    assert.deepEqual(report.checks.map((c) => [c.name, c.result]), [
      ["prm_document", "pass"],
      ["challenge_401", "pass"],
      ["wrong_audience", "pass"],
      ["expired", "pass"],
      ["bad_signature", "pass"],
      ["alg_none", "pass"],
      ["missing_scope_403", "pass"],
      ["bad_host_403", "pass"],
      ["bad_origin_403", "pass"],
      ["session_hijack", "pass"],
      ["discover_2026", "pass"],
      ["header_mismatch_2026", "pass"],
      ["request_state_not_credential", "pass"],
    ]);
    assert.match(text, /^PASS prm_document/);
    assert.match(text, /All checks passed/);
  } finally {
    await gateway.close();
  }
});

Deno.test("runSelftest() fails the right checks against a gateway without auth", async () => {
  const stateDir = await prepare();
  const gateway = await startFakeGateway(stateDir, { noAuth: true });
  try {
    const report = await runSelftest(gateway.url, { stateDir, otherToken: "x".repeat(40) });
    assert.equal(report.ok, false);
    const failed = report.checks.filter((c) => c.result === "fail").map((c) => c.name);
    assert.deepEqual(failed, [
      "challenge_401",
      "wrong_audience",
      "expired",
      "bad_signature",
      "alg_none",
      "missing_scope_403",
      "bad_host_403",
      "bad_origin_403",
      "session_hijack",
      "request_state_not_credential",
    ]);
    assert.match(formatSelftestReport(report), /FAIL alg_none +Expected 401/);
  } finally {
    await gateway.close();
  }
});

Deno.test("runSelftest() skips token checks when it has no key", async () => {
  const stateDir = await prepare();
  const gateway = await startFakeGateway(stateDir);
  try {
    const report = await runSelftest(gateway.url, {});
    const skipped = report.checks.filter((c) => c.result === "skip").map((c) => c.name);
    assert.deepEqual(skipped, [
      "wrong_audience",
      "expired",
      "bad_signature",
      "alg_none",
      "missing_scope_403",
      "session_hijack",
      "discover_2026",
      "header_mismatch_2026",
      "request_state_not_credential",
    ]);
  } finally {
    await gateway.close();
  }
});

Deno.test("runSelftest() signs its attack tokens with a trusted issuer's key", async () => {
  const stateDir = await prepare();
  const issuer = await startIssuer();
  const gateway = await startFakeGateway(stateDir, {
    identities,
    auth: { oidc: [{ issuer: issuer.issuer }] },
  });
  try {
    const report = await runSelftest(gateway.url, {
      stateDir,
      issuerKey: {
        issuer: issuer.issuer,
        privateKey: issuer.privateKey(),
        alg: "ES256",
        kid: issuer.kid,
      },
    });
    const results = Object.fromEntries(report.checks.map((c) => [c.name, c.result]));
    assert.deepEqual(
      ["wrong_audience", "expired", "bad_signature", "alg_none", "missing_scope_403"]
        .map((name) => results[name]),
      ["pass", "pass", "pass", "pass", "pass"],
      formatSelftestReport(report),
    );
  } finally {
    await gateway.close();
    await issuer.close();
  }
});
