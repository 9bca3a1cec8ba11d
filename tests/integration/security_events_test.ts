/**
 * User story: "summarise failed SSH logins across a selector". Real sshd
 * instances see real failed logins (an unknown user, a key they do not
 * accept) from chosen loopback sources; their logs are read through the real
 * gateway's race-free file read and summarised per target and across them.
 */
import assert from "node:assert/strict";
import type { CallToolResult } from "./_gateway.ts";
import { type Fleet, OBSERVE_EVERYTHING, startFleet } from "./_fleet.ts";
import { generateClientKey } from "../../scripts/testbed/sshd.ts";

const POLICY = [...OBSERVE_EVERYTHING, ""].join("\n");

/** One failed login attempt with the OpenSSH client, from a chosen source address. */
async function failLogin(
  fleet: Fleet,
  id: string,
  options: { source: string; user: string; keyFile: string },
): Promise<void> {
  const { host, port } = fleet.instanceOf(id);
  await new Deno.Command("ssh", {
    args: [
      "-F",
      "/dev/null",
      "-b",
      options.source,
      "-p",
      String(port),
      "-i",
      options.keyFile,
      "-o",
      "BatchMode=yes",
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "ConnectTimeout=10",
      `${options.user}@${host}`,
      "true",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
}

/** Copies an instance's sshd log into the roots once it holds `count` failures (bounded wait). */
async function copyLog(fleet: Fleet, id: string, count: number): Promise<string> {
  const from = fleet.instanceOf(id).logPath;
  const to = `${fleet.filesDir}/auth-${id}.log`;
  for (let i = 0; i < 100; i++) {
    const text = await Deno.readTextFile(from);
    if ((text.match(/^(Invalid user|Failed) /gm) ?? []).length >= count) {
      await Deno.writeTextFile(to, text, { mode: 0o644 });
      return to;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd for ${id} did not log ${count} failures: ${await Deno.readTextFile(from)}`);
}

Deno.test({
  name: "failed SSH logins on real sshd are summarised per target and across a selector",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using fleet = await startFleet({
      instances: 2,
      targets: (files) => [
        {
          id: "web-01",
          instance: 0,
          tags: ["web"],
          capabilities: ["system:read", "file:read"],
          roots: [files],
        },
        {
          id: "web-02",
          instance: 1,
          tags: ["web"],
          capabilities: ["system:read", "file:read"],
          roots: [files],
        },
      ],
      policy: POLICY,
    });
    // The gateway logs in to each host once, so the real test user is on both.
    for (const id of ["web-01", "web-02"]) {
      const raw = await fleet.client.callTool({
        name: "system_status",
        arguments: { target: id },
      }) as CallToolResult;
      assert.equal(raw.isError, false);
    }
    const stranger = await generateClientKey(fleet.gateway.workDir, "ed25519");
    for (const id of ["web-01", "web-02"]) {
      await failLogin(fleet, id, {
        source: "127.0.0.9",
        user: "nosuchuser",
        keyFile: stranger.path,
      });
      await failLogin(fleet, id, {
        source: "127.0.0.9",
        user: fleet.testbed.user,
        keyFile: stranger.path,
      });
    }
    await failLogin(fleet, "web-02", {
      source: "127.0.0.8",
      user: "admin",
      keyFile: stranger.path,
    });
    const paths = {
      "web-01": await copyLog(fleet, "web-01", 2),
      "web-02": await copyLog(fleet, "web-02", 3),
    };
    // Each target reads its own sshd's log through the file source.
    const results = await Promise.all(
      (["web-01", "web-02"] as const).map((id) =>
        fleet.client.callTool({
          name: "security_events",
          arguments: { target: id, source: "file", path: paths[id] },
        }) as Promise<CallToolResult>
      ),
    );
    type Out = {
      counts: Record<string, number>;
      failed_sources: { name: string; count: number }[];
      users: string[];
    };
    const outs = results.map((r) => {
      assert.equal(r.isError, false, JSON.stringify(r.content));
      return (r.structuredContent as { results: { data: Out }[] }).results[0].data;
    });
    assert.equal(outs[0].counts.ssh_invalid_user, 1);
    assert.equal(outs[0].counts.ssh_failed, 1);
    assert.ok(outs[0].counts.ssh_accepted >= 1);
    assert.deepEqual(outs[0].failed_sources, [{ name: "127.0.0.9", count: 2 }]);
    assert.deepEqual(outs[1].failed_sources, [
      { name: "127.0.0.9", count: 2 },
      { name: "127.0.0.8", count: 1 },
    ]);
    assert.ok(outs[1].users.includes("admin"));

    // Across the selector: one call, one path (both targets are this machine, so both read web-02's log).
    const fan = await fleet.client.callTool({
      name: "security_events",
      arguments: { targets: "tag:web", source: "file", path: paths["web-02"] },
    }) as CallToolResult;
    assert.equal(fan.isError, false);
    const structured = fan.structuredContent as {
      aggregate: {
        failed_sources: { name: string; count: number }[];
        users_on_several_targets: { user: string; targets: string[] }[];
      };
    };
    assert.deepEqual(structured.aggregate.failed_sources[0], { name: "127.0.0.9", count: 4 });
    assert.ok(
      structured.aggregate.users_on_several_targets.some((u) =>
        u.user === fleet.testbed.user && u.targets.length === 2
      ),
    );
    const text = fan.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
    assert.match(text, /^Across 2 targets: top failed sources 127\.0\.0\.9 \(4\)/);

    // log_search on the same real log file: RE2 in the gateway, patterns as data.
    const search = await fleet.client.callTool({
      name: "log_search",
      arguments: { targets: "tag:web", path: paths["web-02"], pattern: "from 127.0.0.9 port" },
    }) as CallToolResult;
    const counts = (search.structuredContent as { results: { data: { count: number } }[] })
      .results.map((r) => r.data.count);
    // Two attempts from 127.0.0.9 to web-02's sshd: each logs "Connection from" and a failure.
    assert.deepEqual(counts, [4, 4]);
    const regex = await fleet.client.callTool({
      name: "log_search",
      arguments: {
        target: "web-01",
        path: paths["web-01"],
        pattern: "^(Invalid user|Failed publickey for) \\S+ from",
        regex: true,
      },
    }) as CallToolResult;
    assert.equal(
      (regex.structuredContent as { results: { data: { count: number } }[] }).results[0].data.count,
      2,
    );
    const outside = await fleet.client.callTool({
      name: "log_search",
      arguments: { target: "web-01", path: "/etc/shadow", pattern: "root" },
    }) as CallToolResult;
    const refused =
      (outside.structuredContent as { results: { status: string; error?: { code: string } }[] })
        .results[0];
    assert.equal(refused.error?.code, "forbidden");

    // The journal source runs on real sshd too (this machine keeps no journal: zero events).
    const journal = await fleet.client.callTool({
      name: "security_events",
      arguments: { targets: "tag:web", since: "1d" },
    }) as CallToolResult;
    const entries = (journal.structuredContent as { results: { status: string }[] }).results;
    assert.deepEqual(entries.map((e) => e.status), ["ok", "ok"]);
  },
});
