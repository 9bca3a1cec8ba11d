/**
 * The audit log as evidence, against the real gateway process: signed
 * checkpoints shipped off the host (webhook, syslog) and `audit verify
 * --key` against truncation, a rewritten chain and a foreign key; an
 * unlinked log noticed; refusals and authentication failures recorded and
 * aggregated; a torn tail kept aside at start.
 *
 * @module
 */
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { webhookSignature } from "../../src/gate/approvals.ts";
import { formatRecord, hashRecord } from "../../src/audit/record.ts";
import type { AuditRecord } from "../../src/audit/record.ts";
import {
  type AuditLine,
  connectHttp,
  readAudit,
  runCli,
  startGateway,
  startStdioGateway,
} from "./_gateway.ts";

const RULES = `
rules:
  - id: observe-everything
    effect: allow
    tiers: [observe]
    targets: ["*"]
`;

async function until(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await condition()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** A webhook receiver on loopback that checks each delivery's HMAC. */
function webhookReceiver(secret: string) {
  const bodies: string[] = [];
  let badSignatures = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const body = await req.text();
    const timestamp = req.headers.get("x-tailops-timestamp") ?? "";
    const expected = await webhookSignature(secret, { timestamp, body });
    if (req.headers.get("x-tailops-signature") !== expected) badSignatures++;
    else bodies.push(body);
    return new Response(null, { status: 204 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    bodies,
    badSignatures: () => badSignatures,
    close: () => server.shutdown(),
  };
}

/** A UDP syslog collector on loopback. */
async function syslogCollector() {
  const lines: string[] = [];
  const socket = dgram.createSocket("udp4");
  socket.on("message", (message) => lines.push(String(message)));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    lines,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

async function verify(file: string, ...flags: string[]) {
  return await runCli(["audit", "verify", file, ...flags]);
}

/** Rewrites a log as an attacker with write access would: edit, then recompute every hash. */
async function rewriteChain(text: string, edit: (r: AuditRecord) => void): Promise<string> {
  let prev = "0".repeat(64);
  const out: string[] = [];
  for (const line of text.trim().split("\n")) {
    const { hash: _hash, ...record } = JSON.parse(line) as AuditRecord;
    edit(record as AuditRecord);
    const next = { ...record, prev } as AuditRecord;
    next.hash = await hashRecord(next);
    prev = next.hash;
    out.push(formatRecord(next));
  }
  return `${out.join("\n")}\n`;
}

Deno.test("checkpoints are signed, shipped off the host, and prove truncation, rewriting and a foreign key", async (t) => {
  const hook = webhookReceiver("ship-secret");
  const syslog = await syslogCollector();
  let file = "", keyFile = "", work = "";
  try {
    await using gateway = await startGateway({
      policy: `${RULES}
audit:
  checkpoint: { every_records: 4, every_seconds: 3600 }
  ship:
    webhook: { url: "${hook.url}", secret: "\${SHIP_SECRET}" }
    syslog: { address: "${syslog.address}" }
`,
      env: { SHIP_SECRET: "ship-secret" },
    });
    work = gateway.workDir;
    const client = await connectHttp(gateway);
    for (let i = 0; i < 5; i++) {
      const result = await client.callTool({
        name: "system_status",
        arguments: { target: "local" },
      });
      assert.equal(result.isError, false, JSON.stringify(result.content));
    }
    await client.close();
    const status = await gateway.stop();
    assert.equal(status.code, 0);
    file = `${work}/audit.jsonl`;
    await Deno.copyFile(gateway.auditFile, file);
    const key = await runCli(["audit", "key", "--state-dir", gateway.stateDir]);
    assert.equal(key.code, 0, key.stderr);
    keyFile = `${work}/audit.pub.json`;
    await Deno.writeTextFile(keyFile, key.stdout);
    const records = await readAudit(file);
    const checkpoints = records.filter((r) => r.event === "checkpoint");
    assert.ok(checkpoints.length >= 3, `checkpoints: ${checkpoints.length}`);
    assert.equal(records.at(-1)!.event, "checkpoint", "the log ends with the shutdown checkpoint");
    assert.equal((records.at(-1)!.checkpoint as { final: boolean }).final, true);
    const stopped = records.findLastIndex((r) => r.event === "stopped");
    assert.ok(records.slice(stopped + 1).every((r) => r.event === "checkpoint"));
    await until(
      () => hook.bodies.length === checkpoints.length && syslog.lines.length === checkpoints.length,
      "every checkpoint to be shipped",
    );
    assert.equal(hook.badSignatures(), 0);
    await Deno.writeTextFile(`${work}/shipped.webhook`, hook.bodies.join("\n") + "\n");
    await Deno.writeTextFile(`${work}/shipped.syslog`, syslog.lines.join("\n") + "\n");
    assert.match(syslog.lines[0], /^<134>1 \S+Z - tailops \d+ checkpoint - \{"seq":/);

    await t.step("the intact log verifies with the key and both shipped copies", async () => {
      for (const shipped of ["shipped.webhook", "shipped.syslog"]) {
        const run = await verify(file, "--key", keyFile, "--shipped", `${work}/${shipped}`);
        assert.equal(run.code, 0, run.stdout + run.stderr);
        assert.match(run.stdout, /^OK: \d+ records, chain intact$/m);
        assert.match(
          run.stdout,
          /signatures verified; the last, at seq \d+, was written at a clean shutdown/,
        );
        assert.match(
          run.stdout,
          new RegExp(`Shipped checkpoints matched: ${checkpoints.length} of ${checkpoints.length}`),
        );
      }
      const inline = await verify(file, "--key", key.stdout.trim());
      assert.equal(inline.code, 0, inline.stdout);
    });

    const text = await Deno.readTextFile(file);
    const lines = text.trim().split("\n");
    const firstCheckpoint = records.findIndex((r) => r.event === "checkpoint");

    await t.step("a tail cut after a checkpoint is reported as not covered (exit 2)", async () => {
      await Deno.writeTextFile(
        `${work}/cut.jsonl`,
        lines.slice(0, firstCheckpoint + 3).join("\n") + "\n",
      );
      const run = await verify(`${work}/cut.jsonl`, "--key", keyFile);
      assert.equal(run.code, 2, run.stdout);
      assert.match(
        run.stdout,
        /^INCOMPLETE: records \d+-\d+ come after the last checkpoint and are not covered by a signature/m,
      );
    });

    await t.step(
      "a tail cut at a checkpoint is proved by the shipped checkpoints (exit 1)",
      async () => {
        await Deno.writeTextFile(
          `${work}/cut.jsonl`,
          lines.slice(0, firstCheckpoint + 1).join("\n") + "\n",
        );
        const local = await verify(`${work}/cut.jsonl`, "--key", keyFile);
        assert.equal(local.code, 0, "locally nothing shows");
        assert.match(local.stdout, /is a periodic one/);
        const run = await verify(
          `${work}/cut.jsonl`,
          "--key",
          keyFile,
          "--shipped",
          `${work}/shipped.webhook`,
        );
        assert.equal(run.code, 1, run.stdout);
        assert.match(
          run.stdout,
          /^BROKEN at seq \d+ .*: truncated: Expected records up to seq \d+ \(a checkpoint shipped off the host\)/m,
        );
      },
    );

    await t.step("a chain rewritten with recomputed hashes is reported as rewritten", async () => {
      let edited = false;
      const rewritten = await rewriteChain(text, (r) => {
        if (r.event === "decided" && !edited) edited = Boolean(r.identity = "someone-else");
      });
      await Deno.writeTextFile(`${work}/rewritten.jsonl`, rewritten);
      const noKey = await verify(`${work}/rewritten.jsonl`);
      assert.equal(
        noKey.code,
        1,
        "the checkpoint's signed head no longer matches, even without the key",
      );
      const run = await verify(`${work}/rewritten.jsonl`, "--key", keyFile);
      assert.equal(run.code, 1);
      assert.match(run.stdout, /: rewritten: /);
    });

    await t.step("a checkpoint checked against another key is reported as foreign", async () => {
      const other = await runCli(["audit", "key", "--state-dir", `${work}/other-state`]);
      assert.equal(other.code, 0, other.stderr);
      const run = await verify(file, "--key", other.stdout.trim());
      assert.equal(run.code, 1);
      assert.match(
        run.stdout,
        /: foreign_key: Expected a checkpoint signed by key "[^"]+", found one signed by "[^"]+"/,
      );
    });

    await t.step("a raw bidi override in place of its escape is reported", async () => {
      const line = lines.findIndex((l) => l.includes('"identity"'));
      const edited = [...lines];
      edited[line] = edited[line].replace('"identity":"', '"identity":"\\u202e').replace(
        "\\u202e",
        "\u202E",
      );
      await Deno.writeTextFile(`${work}/bidi.jsonl`, edited.join("\n") + "\n");
      const run = await verify(`${work}/bidi.jsonl`);
      assert.equal(run.code, 1);
    });
  } finally {
    await hook.close();
    await syslog.close();
  }
});

Deno.test("unlinking audit.jsonl under the running gateway is noticed: calls are refused and the metric says so", async () => {
  await using gateway = await startGateway({ policy: RULES });
  const client = await connectHttp(gateway);
  const ok = await client.callTool({ name: "system_status", arguments: { target: "local" } });
  assert.equal(ok.isError, false);
  await Deno.remove(gateway.auditFile);
  const refused = await client.callTool({ name: "system_status", arguments: { target: "local" } });
  assert.equal(refused.isError, true);
  const text = (refused.content as { text: string }[])[0].text;
  assert.match(text, /^audit_unavailable: /);
  const metrics = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`, {
    headers: { authorization: `Bearer ${gateway.token}` },
  })).text();
  assert.match(metrics, /^tailops_audit_failed 1$/m);
  await until(
    () =>
      /expected the file the gateway opened, found that the file was removed/.test(
        gateway.stderr(),
      ),
    "the gateway to log why it stopped",
  );
  await client.close();
});

Deno.test("refusals before the gate and failed authentications are audited, and floods are aggregated", async () => {
  let records: AuditLine[] = [];
  {
    await using gateway = await startGateway({ policy: RULES });
    const client = await connectHttp(gateway);
    const call = async (name: string, args: Record<string, unknown>) => {
      const result = await client.callTool({ name, arguments: args });
      assert.equal(result.isError, true, JSON.stringify(result.content));
      return (result.content as { text: string }[])[0].text;
    };
    assert.match(await call("system_status", { target: "nope" }), /^unknown_target: /);
    assert.match(await call("system_status", { targets: "tag:none" }), /^no_targets: /);
    assert.match(
      await call("system_status", { target: "local", forks: 0 }),
      /^invalid_arguments: .*forks/,
    );
    // Unknown and hidden tools are JSON-RPC errors (-32602), not tool results.
    const refusedCall = (name: string, args: Record<string, unknown>) =>
      client.callTool({ name, arguments: args }).then(
        (result) => assert.fail(`expected -32602, got ${JSON.stringify(result)}`),
        (error: Error & { code?: number }) => `${error.code} ${error.message}`,
      );
    assert.match(
      await refusedCall("service_restart", { target: "local", unit: "x.service" }),
      /-32602.*not found/,
    );
    assert.match(await refusedCall("no_such_tool", {}), /-32602.*not found/);
    // A flood of the same refusal: 40 more unknown targets.
    for (let i = 0; i < 40; i++) await call("system_status", { target: "nope" });
    // A flood of bad tokens from one peer.
    for (let i = 0; i < 50; i++) {
      const response = await fetch(gateway.url, {
        method: "POST",
        headers: { authorization: "Bearer not-a-token", "content-type": "application/json" },
        body: "{}",
      });
      await response.body?.cancel();
      assert.equal(response.status, 401);
    }
    await client.close();
    assert.equal((await gateway.stop()).code, 0);
    records = await readAudit(gateway.auditFile);
    const verified = await runCli(["audit", "verify", gateway.auditFile]);
    assert.equal(verified.code, 0, verified.stdout);
  }
  const refused = records.filter((r) => r.event === "refused");
  const byReason = (reason: string) => refused.filter((r) => r.reason === reason);
  assert.equal(byReason("no_targets").length, 1);
  assert.equal(byReason("bad_arguments").length, 1);
  assert.equal(byReason("bad_arguments")[0].tool, "system_status");
  // A hidden tool is refused like an unknown one; made-up names share one summary.
  const unknownTool = byReason("unknown_tool");
  assert.equal(unknownTool[0].tool, "service_restart");
  assert.deepEqual(unknownTool[1]?.detail?.tools, ["no_such_tool"]);
  const unknownTarget = byReason("unknown_target");
  assert.ok(unknownTarget.length <= 2, `${unknownTarget.length} records for one repeated refusal`);
  assert.equal(unknownTarget.reduce((n, r) => n + (r.detail!.count as number), 0), 41);
  assert.equal((unknownTarget[0].args as { target?: string }).target, "nope");
  assert.match(String(unknownTarget[0].identity), /admin/);
  const auth = records.filter((r) => r.event === "auth_failed");
  assert.ok(auth.length <= 2, `${auth.length} records for 50 failed authentications`);
  assert.equal(auth.reduce((n, r) => n + (r.detail!.count as number), 0), 50);
  assert.equal(auth[0].reason, "invalid_token");
  assert.equal(auth[0].detail!.peer, "127.0.0.1");
  assert.ok(!JSON.stringify(auth).includes("not-a-token"), "the presented token is not recorded");
});

Deno.test("a torn last line does not stop the next start: it is kept aside and verify explains it", async () => {
  const state = await Deno.makeTempDir({ prefix: "tailops-torn-" });
  try {
    {
      await using first = await startGateway({ policy: RULES, stateDir: state });
      assert.equal((await first.stop()).code, 0);
    }
    const torn = '{"seq":99,"time":"2026-12-03T10:00:00.000Z","event":"deci';
    await Deno.writeTextFile(`${state}/audit.jsonl`, torn, { append: true });
    const before = await verify(`${state}/audit.jsonl`);
    assert.equal(before.code, 1);
    assert.match(before.stdout, /truncated: .*incomplete line/);
    {
      await using second = await startGateway({ policy: RULES, stateDir: state });
      const client = await connectHttp(second);
      const ok = await client.callTool({ name: "system_status", arguments: { target: "local" } });
      assert.equal(ok.isError, false);
      await client.close();
      assert.equal((await second.stop()).code, 0);
    }
    const kept = [...Deno.readDirSync(state)].filter((e) => e.name.startsWith("audit.jsonl.torn-"));
    assert.equal(kept.length, 1);
    assert.equal(await Deno.readTextFile(`${state}/${kept[0].name}`), torn);
    const after = await verify(`${state}/audit.jsonl`);
    assert.equal(after.code, 0, after.stdout);
    assert.match(
      after.stdout,
      new RegExp(
        `^Notice: seq \\d+: at start the gateway found an incomplete last line .*kept in ${
          kept[0].name
        }`,
        "m",
      ),
    );
  } finally {
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test(
  "a full disk under the running gateway refuses calls, and once space returns it recovers by itself",
  {
    ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  },
  async () => {
    const mount = await Deno.makeTempDir({ prefix: "tailops-full-" });
    const sh = async (...args: string[]) => {
      const out = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" })
        .output();
      assert.ok(out.success, `${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    };
    await sh("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mount);
    try {
      await using gateway = await startGateway({ policy: RULES, stateDir: mount });
      const client = await connectHttp(gateway);
      const metric = async () => {
        const text = await (await fetch(`http://127.0.0.1:${gateway.port}/metrics`, {
          headers: { authorization: `Bearer ${gateway.token}` },
        })).text();
        return /^tailops_audit_failed (\d)$/m.exec(text)?.[1];
      };
      const call = () => client.callTool({ name: "system_status", arguments: { target: "local" } });
      assert.equal((await call()).isError, false);
      const filler = await Deno.open(`${mount}/filler`, { write: true, create: true });
      try {
        while (true) await filler.write(new Uint8Array(4096));
      } catch {
        // Full.
      } finally {
        filler.close();
      }
      let answer = "";
      for (let i = 0; i < 200 && answer === ""; i++) {
        const result = await call();
        const text = (result.content as { text: string }[])[0].text;
        if (/audit_unavailable|audit_unrecorded/.test(text)) answer = text;
      }
      assert.match(answer, /^audit_unavailable: |Warning \(audit_unrecorded\): This call ran/);
      assert.equal(await metric(), "1");
      const refused = await call();
      assert.equal(refused.isError, true);
      await Deno.remove(`${mount}/filler`);
      await until(async () => await metric() === "0", "the audit log to recover");
      assert.equal((await call()).isError, false);
      await client.close();
      assert.equal((await gateway.stop()).code, 0);
      const run = await verify(`${mount}/audit.jsonl`);
      assert.equal(run.code, 0, run.stdout);
      assert.match(
        run.stdout,
        /^Notice: seq \d+: the log could not be written from .*No space left/m,
      );
    } finally {
      await sh("umount", mount);
      await Deno.remove(mount);
    }
  },
);

Deno.test("over stdio, rate-limited and unknown-target calls are audited and the log verifies with the key", async () => {
  await using gateway = await startStdioGateway({
    policy: `${RULES}
rate_limits:
  observe: { per_minute: 1, burst: 1 }
`,
  });
  const call = (args: Record<string, unknown>) =>
    gateway.client.callTool({ name: "system_status", arguments: args });
  assert.equal((await call({ target: "local" })).isError, false);
  const limited = await call({ target: "local" });
  assert.match((limited.content as { text: string }[])[0].text, /^rate_limited: /);
  const unknown = await call({ target: "ghost\u202e" });
  // (An id pattern on `target` would refuse it as bad arguments instead: recorded all the same.)
  assert.match((unknown.content as { text: string }[])[0].text, /^unknown_target: |validation/i);
  await gateway.stop();
  const records = await readAudit(gateway.auditFile);
  const refused = records.filter((r) => r.event === "refused");
  assert.equal(refused[0].reason, "rate_limited");
  assert.match(refused[1].reason ?? "", /^(unknown_target|bad_arguments)$/);
  assert.match(refused[0].identity ?? "", /^local:/);
  const raw = await Deno.readTextFile(gateway.auditFile);
  assert.ok(raw.includes("ghost\\u202e"), "the bidi override is stored escaped");
  assert.ok(!raw.includes("\u202e"));
  const key = await runCli(["audit", "key", "--state-dir", gateway.stateDir]);
  const run = await verify(gateway.auditFile, "--key", key.stdout.trim());
  assert.equal(run.code, 0, run.stdout);
  assert.match(run.stdout, /was written at a clean shutdown/);
});

Deno.test("a flood past the per-address limit is audited as a few aggregated records", async () => {
  let records: AuditLine[] = [];
  let limited = 0;
  {
    await using gateway = await startGateway({ policy: RULES });
    // The transport allows a burst of 2000 per address and refills it: send 50
    // at a time until some are limited (a loaded machine sends slower), bounded.
    const started = Date.now();
    for (
      let sent = 0;
      sent < 12_000 && Date.now() - started < 120_000 && (sent < 2400 || limited === 0);
      sent += 50
    ) {
      const statuses = await Promise.all(Array.from({ length: 50 }, async () => {
        const response = await fetch(gateway.url, { method: "POST", body: "{}" });
        await response.body?.cancel();
        return response.status;
      }));
      limited += statuses.filter((s) => s === 429).length;
    }
    assert.equal((await gateway.stop()).code, 0);
    records = await readAudit(gateway.auditFile);
  }
  assert.ok(limited > 0, "some requests were limited");
  const refused = records.filter((r) => r.reason === "rate_limited_http");
  assert.ok(refused.length <= 2, `${refused.length} records for ${limited} refusals`);
  assert.equal(refused.reduce((n, r) => n + (r.detail!.count as number), 0), limited);
  const auth = records.filter((r) => r.event === "auth_failed");
  assert.ok(auth.length <= 2, `${auth.length} records for the unauthenticated rest`);
  assert.ok(records.length < 20, `${records.length} records in all`);
});
