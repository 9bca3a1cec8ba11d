/**
 * Through the real gateway process: bearer tokens that are not in the OIDC
 * issuer's opaque format — a mistyped admin token, a cut-off gateway JWT —
 * are refused without being POSTed to the issuer's introspection endpoint;
 * the issuer's own opaque tokens still are. The issuer is the real test
 * issuer on loopback, counting the requests it receives.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startIssuer } from "../auth/_issuer.ts";
import { authGateway, postInitialize, ROLES_YAML } from "./_auth_gateway.ts";

/** A raw `initialize` POST with a bearer token; returns the status. */
async function initializeStatus(url: URL, token: string): Promise<number> {
  const response = await postInitialize(url, { Authorization: `Bearer ${token}` });
  await response.body?.cancel();
  return response.status;
}

Deno.test("Mistyped admin tokens and broken gateway JWTs never reach the introspection endpoint", async () => {
  const issuer = await startIssuer();
  try {
    const secretDir = await Deno.makeTempDir({ prefix: "tailops-introspect-" });
    const secretFile = `${secretDir}/secret`;
    await Deno.writeTextFile(secretFile, issuer.client.secret, { mode: 0o600 });
    const policy = [
      "version: 1",
      "rules:",
      "  - id: observe",
      "    tiers: [observe]",
      "identities:",
      ROLES_YAML,
      "  bindings:",
      `    - { oidc_subject: svc-*, issuer: "${issuer.issuer}", roles: [viewer] }`,
      "auth:",
      "  oidc:",
      `    - issuer: "${issuer.issuer}"`,
      "      introspection:",
      "        token_prefix: idp_at_",
      `        client_id: ${issuer.client.id}`,
      `        client_secret: "file:${secretFile}"`,
    ].join("\n");
    await using gw = await authGateway(policy);
    await gw.start();
    const admin = (await Deno.readTextFile(`${gw.stateDir}/admin.token`)).trim();
    const { token: jwt } = await gw.mint("ci", "viewer");
    const [header, payload] = jwt.split(".");
    const wrong = [
      admin.slice(0, -1),
      `${admin}a`,
      admin.slice(0, 10) + (admin[10] === "x" ? "y" : "x") + admin.slice(11),
      `${header}.${payload}`,
      `${header}${payload}`,
      "idp_at_" + `${header}.${payload}`,
      "idp_at",
    ];
    for (const token of wrong) {
      assert.equal(await initializeStatus(gw.url, token), 401, token);
    }
    assert.equal(issuer.hits.get("/introspect") ?? 0, 0, "no wrong token was sent to the issuer");
    // The right ones still work: the admin token locally, the issuer's token by introspection.
    assert.equal(await initializeStatus(gw.url, admin), 200);
    const now = Math.floor(Date.now() / 1000);
    issuer.introspection.set("idp_at_valid", {
      active: true,
      iss: issuer.issuer,
      sub: "svc-backup",
      aud: gw.url.href,
      exp: now + 3600,
    });
    assert.equal(await initializeStatus(gw.url, "idp_at_valid"), 200);
    assert.equal(issuer.hits.get("/introspect"), 1);
    await Deno.remove(secretDir, { recursive: true });
  } finally {
    await issuer.close();
  }
});
