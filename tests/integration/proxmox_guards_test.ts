/**
 * Attacks on proxmox targets through the real gateway: a certificate that
 * does not match the pin, a wrong token, an API that echoes the token, ids
 * carrying paths, vmid and node limits that must fail closed, a token
 * without a privilege, and the contract server's own strictness.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ALL_PRIVILEGES, ProxmoxTestbed } from "../../scripts/testbed/proxmox.ts";
import { connectHttp, startGateway } from "./_gateway.ts";
import { call, type Called } from "./_mcp_checks.ts";
import { SecretScanner } from "../../src/audit/redact.ts";

interface Registry {
  fingerprint?: string;
  nodes?: string[];
  secretVar?: string;
}

function targets(bed: ProxmoxTestbed, extra: Registry = {}) {
  return [
    "targets:",
    "  - id: pve",
    "    type: proxmox",
    "    capabilities: [guest:read, guest:control, guest:admin, backup:read, backup:control]",
    "    connection:",
    `      base_url: ${bed.baseUrl}`,
    `      token_id: "${bed.tokenId}"`,
    `      token_secret: "\${${extra.secretVar ?? "TAILOPS_IT_PVE_SECRET"}}"`,
    `      tls: { fingerprint: "${extra.fingerprint ?? bed.fingerprint}" }`,
    ...(extra.nodes ? [`      nodes: [${extra.nodes.join(", ")}]`] : []),
  ].join("\n");
}

const POLICY = `
version: 1
rules:
  - id: pve-read
    effect: allow
    capabilities: [guest:read, backup:read]
    targets: ["*"]
  - id: pve-change-low-vmids
    effect: allow
    capabilities: [guest:control, guest:admin, backup:control]
    targets: ["*"]
    params:
      vmid: { min: 100, max: 101 }
`;

function entry(called: Called) {
  assert.equal(called.results.length, 1, called.text);
  return called.results[0];
}

Deno.test("a proxmox target refuses a certificate that does not match the pinned fingerprint before sending the token", async () => {
  await using bed = await ProxmoxTestbed.start();
  const wrong = bed.fingerprint.replace(/^../, bed.fingerprint.startsWith("00") ? "11" : "00");
  await using gateway = await startGateway({
    targets: targets(bed, { fingerprint: wrong }),
    policy: POLICY,
    env: { TAILOPS_IT_PVE_SECRET: bed.secret },
  });
  const client = await connectHttp(gateway);
  try {
    const called = await call(client, "pve_guest_list", { target: "pve" });
    const result = entry(called);
    assert.equal(result.status, "failed", called.text);
    assert.equal(result.error!.code, "untrusted");
    assert.match(result.error!.message, /expected its certificate fingerprint 00|11/);
    assert.ok(result.error!.message.includes(bed.fingerprint), "the message names what was found");
    assert.equal(bed.seen.length, 0, "no HTTP request (and so no token) reached the server");
  } finally {
    await client.close();
  }
});

Deno.test("without a pin or a CA, a proxmox target refuses the self-signed certificate", async () => {
  await using bed = await ProxmoxTestbed.start();
  // No fingerprint and no CA: the system store does not know the self-signed certificate.
  const registry = targets(bed).replace(/ {6}tls: .*\n?/, "");
  await using gateway = await startGateway({
    targets: registry,
    policy: POLICY,
    env: { TAILOPS_IT_PVE_SECRET: bed.secret },
  });
  const client = await connectHttp(gateway);
  try {
    const result = entry(await call(client, "pve_guest_list", { target: "pve" }));
    assert.equal(result.error?.code, "untrusted");
    assert.equal(bed.seen.length, 0);
  } finally {
    await client.close();
  }
});

Deno.test("a proxmox target trusts its certificate through tls.ca instead of a pin", async () => {
  await using bed = await ProxmoxTestbed.start();
  const caFile = await Deno.makeTempFile({ prefix: "tailops-pve-ca-", suffix: ".pem" });
  try {
    await Deno.writeTextFile(caFile, bed.cert);
    const registry = targets(bed).replace(/tls: .*/, `tls: { ca: "file:${caFile}" }`);
    await using gateway = await startGateway({
      targets: registry,
      policy: POLICY,
      env: { TAILOPS_IT_PVE_SECRET: bed.secret },
    });
    const client = await connectHttp(gateway);
    try {
      const called = await call(client, "pve_guest_list", { target: "pve" });
      assert.equal(entry(called).status, "ok", called.text);
    } finally {
      await client.close();
    }
  } finally {
    await Deno.remove(caFile);
  }
});

Deno.test("proxmox guards: token leaks, path injection, vmid and node limits, privileges, auth", async (t) => {
  await using bed = await ProxmoxTestbed.start({
    privileges: ALL_PRIVILEGES.filter((p) => p !== "VM.Snapshot.Rollback"),
  });
  const secret = bed.secret;
  const header = `PVEAPIToken=${bed.tokenId}=${secret}`;
  // A careless API (or a guest owner writing notes) echoes the token back in several encodings.
  bed.cluster.guests[1].config.description = `token ${header} b64 ${btoa(secret)} hex ${
    [...new TextEncoder().encode(secret)].map((b) => b.toString(16).padStart(2, "0")).join("")
  } url ${encodeURIComponent(header)}`;
  const env = { TAILOPS_IT_PVE_SECRET: secret, TAILOPS_IT_BAD_SECRET: "0".repeat(36) };
  await using gateway = await startGateway({
    targets: [
      targets(bed, { nodes: ["pve1"] }),
      targets(bed, { secretVar: "TAILOPS_IT_BAD_SECRET" }).replace("targets:\n", "")
        .replace("id: pve", "id: pve-badtoken"),
    ].join("\n"),
    policy: POLICY,
    env,
  });
  const client = await connectHttp(gateway);
  const texts: string[] = [];
  const run = async (name: string, args: Record<string, unknown>) => {
    const called = await call(client, name, { target: "pve", ...args });
    texts.push(called.text, JSON.stringify(called.results));
    return called;
  };
  try {
    await t.step("a guest config echoing the token in any encoding is scrubbed", async () => {
      const called = await run("pve_guest_config", { vmid: 101 });
      assert.equal(entry(called).status, "ok", called.text);
      const description = (entry(called).data as { config: { description: string } }).config
        .description;
      assert.ok(description.includes("[REDACTED]"), description);
      const scanner = new SecretScanner([secret]);
      for (const text of [JSON.stringify(called), await Deno.readTextFile(gateway.auditFile)]) {
        assert.ok(!text.includes(secret));
        assert.ok(!text.includes(btoa(secret)));
        assert.equal(scanner.scan(text), text);
      }
    });

    await t.step(
      "ids carrying paths are refused by the schema and never reach the API",
      async () => {
        const before = bed.seen.length;
        const attempts: [string, Record<string, unknown>][] = [
          ["pve_guest_status", { vmid: "100/../../access" }],
          ["pve_guest_status", { vmid: 100.5 }],
          ["pve_guest_status", { vmid: 99 }],
          ["pve_guest_status", { vmid: 100, node: "pve1/../../access" }],
          ["pve_guest_status", { vmid: 100, node: "pve1%2f.." }],
          ["pve_snapshot_create", { vmid: 100, snapname: "../../access/users" }],
          ["pve_snapshot_delete", { vmid: 100, snapname: "a/b" }],
          ["pve_snapshot_rollback", { vmid: 100, snapname: "current" }],
          ["pve_backup_list", { storage: "local/../../access" }],
          ["pve_backup_create", { vmid: 100, storage: "..%2f" }],
          ["pve_task_status", { upid: "UPID:pve1:../../access:" }],
          ["pve_task_status", {
            upid: "UPID:pve1:0000AAAA:0000BBBB:0000CCCC:qmstart:100:root@pam:/../x",
          }],
          ["pve_guest_list", { tags: ["db;x"] }],
          ["pve_guest_control", { vmid: 100, action: "migrate" }],
          ["pve_guest_status", { vmid: 100, extra: "1" }],
        ];
        for (const [name, args] of attempts) {
          const called = await run(name, args);
          assert.equal(called.isError, true, `${name} ${JSON.stringify(args)}: ${called.text}`);
          assert.doesNotMatch(called.text, /\n\s+at /, "no stack trace");
        }
        assert.equal(bed.seen.length, before, "the API saw none of them");
      },
    );

    await t.step(
      "a vmid limit refuses vmids outside it and calls that leave vmid out",
      async () => {
        const before = bed.seen.length;
        const outside = await run("pve_guest_control", { vmid: 102, action: "stop" });
        assert.equal(entry(outside).status, "denied", outside.text);
        const byTag = await run("pve_snapshot_create", { tags: ["db"], snapname: "s1" });
        assert.equal(entry(byTag).status, "denied", byTag.text);
        assert.match(entry(byTag).error!.message, /vmid/);
        assert.equal(bed.seen.length, before, "nothing was sent");
      },
    );

    await t.step(
      "the node limit hides guests elsewhere and refuses tasks on other nodes",
      async () => {
        const list = await run("pve_guest_list", {});
        const vmids = (entry(list).data as { guests: { vmid: number }[] }).guests.map((g) =>
          g.vmid
        );
        assert.deepEqual(vmids, [100, 101]);
        const elsewhere = await run("pve_guest_status", { vmid: 102 });
        assert.equal(entry(elsewhere).error?.code, "not_found", elsewhere.text);
        const upid = "UPID:pve2:0000AAAA:0000BBBB:0000CCCC:qmstart:102:root@pam:";
        const task = await run("pve_task_status", { upid });
        assert.equal(entry(task).error?.code, "forbidden", task.text);
        const status = await run("pve_cluster_status", {});
        const nodes = (entry(status).data as { nodes: { node: string }[] }).nodes;
        assert.deepEqual(nodes.map((n) => n.node), ["pve1"]);
        const coverage = await run("pve_backup_verify_status", {});
        const guests = (entry(coverage).data as { guests: { vmid: number }[] }).guests;
        assert.deepEqual(guests.map((g) => g.vmid), [100, 101]);
        assert.ok(!bed.seen.some((r) => r.path.startsWith("/nodes/pve2")), "pve2 was never asked");
      },
    );

    await t.step(
      "a token without a privilege gets PVE's permission message, per guest",
      async () => {
        const called = await run("pve_snapshot_rollback", { vmid: 101, snapname: "before" });
        const result = entry(called);
        assert.equal(result.status, "failed", called.text);
        assert.match(
          result.error!.message,
          /Permission check failed \(\/vms\/101, VM\.Snapshot\.Rollback\)/,
        );
      },
    );

    await t.step(
      "a wrong token is auth_failed, and the wrong secret is not shown either",
      async () => {
        const called = await call(client, "pve_guest_list", { target: "pve-badtoken" });
        const result = entry(called);
        assert.equal(result.error?.code, "auth_failed", called.text);
        assert.ok(!called.text.includes("0".repeat(36)));
      },
    );

    await t.step("no text the client saw holds the token", () => {
      for (const text of texts) assert.ok(!text.includes(secret));
    });
  } finally {
    await client.close();
  }
});

Deno.test("the contract server refuses unknown parameters, bad formats and bad tokens as pveproxy does", async () => {
  await using bed = await ProxmoxTestbed.start();
  const client = Deno.createHttpClient({ caCerts: [bed.cert] });
  const auth = { authorization: `PVEAPIToken=${bed.tokenId}=${bed.secret}` };
  const get = async (path: string, init: RequestInit = {}) => {
    const response = await fetch(`${bed.baseUrl}${path}`, {
      client,
      ...init,
      headers: { ...auth, ...init.headers },
    });
    return { status: response.status, body: await response.json() };
  };
  try {
    const unknown = await get("/cluster/resources?type=vm&foo=1");
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body.errors, {
      foo: "property is not defined in schema and the schema does not allow additional properties",
    });
    assert.equal(unknown.body.data, null);
    const badEnum = await get("/cluster/resources?type=vms");
    assert.equal(badEnum.status, 400);
    assert.match(badEnum.body.errors.type, /enumeration/);
    const missing = await get("/nodes/pve1/qemu/100/snapshot", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "description=x",
    });
    assert.equal(missing.status, 400);
    assert.match(missing.body.errors.snapname, /missing/);
    const lxcVmstate = await get("/nodes/pve1/lxc/101/snapshot", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "snapname=s&vmstate=1",
    });
    assert.equal(lxcVmstate.status, 400);
    const json = await get("/nodes/pve1/qemu/100/snapshot", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ snapname: "s" }),
    });
    assert.equal(json.status, 400, "only URL and form parameters, as documented");
    const wrongNode = await get("/nodes/pve2/qemu/100/status/current");
    assert.equal(wrongNode.status, 500);
    assert.match(wrongNode.body.message, /does not exist/);
    const unknownPath = await get("/access/users");
    assert.equal(unknownPath.status, 501);
    const noToken = await fetch(`${bed.baseUrl}/version`, { client });
    assert.equal(noToken.status, 401);
    await noToken.body?.cancel();
  } finally {
    client.close();
  }
});
