/**
 * The checks both transports must pass against a gateway serving the embedded
 * default (the `local` target, observe-only policy): run as steps of one test
 * per transport, so each transport gets one gateway process.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CATALOG } from "../../src/ops/catalog.ts";
import { type AuditLine, type Client, readAudit, runCli } from "./_gateway.ts";

/** The tools the default policy shows for the embedded `local` target. */
export const OBSERVE_TOOLS: readonly string[] = [
  "list_targets",
  "system_status",
  "top_processes",
  "service_status",
  "service_list",
  "journal_logs",
  "log_search",
  "security_events",
  "listening_sockets",
  "firewall_status",
  "package_updates",
  "reboot_required",
  "read_file",
  "list_directory",
  "disk_usage",
];

type McpClient = InstanceType<typeof Client>;

/** One target's entry of a tool's structured result. */
export interface Entry {
  target: string;
  status: string;
  rule?: string;
  data?: Record<string, unknown>;
  plan?: Record<string, unknown>;
  error?: { code: string; message: string };
  truncated?: boolean;
}

/** A tool call's outcome as the tests read it. */
export interface Called {
  isError: boolean;
  text: string;
  results: Entry[];
}

/**
 * Calls a tool and returns its error flag, text and per-target results.
 *
 * @param client A connected client.
 * @param name Tool name.
 * @param args Arguments.
 * @returns The outcome.
 */
export async function call(
  client: McpClient,
  name: string,
  args: Record<string, unknown>,
): Promise<Called> {
  const result = await client.callTool({ name, arguments: args });
  const content = (result.content ?? []) as { type: string; text?: string }[];
  const structured = result.structuredContent as { results?: Entry[] } | undefined;
  return {
    isError: result.isError === true,
    text: content.map((c) => c.text ?? "").join("\n"),
    results: structured?.results ?? [],
  };
}

/** The single `local` entry of a result. */
function only(called: Called): Entry {
  assert.equal(called.results.length, 1, called.text);
  assert.equal(called.results[0].target, "local");
  return called.results[0];
}

/** Plain failure codes an observe op may report on a host without its program or systemd. */
const PLAIN_FAILURES = ["program_missing", "unsupported", "not_found"];

/** What a transport test needs besides the client. */
export interface CheckContext {
  client: McpClient;
  auditFile: string;
  /** Expected audit identity, or a predicate on it. */
  identity: (subject: string) => boolean;
  /** Stops the gateway so the audit log is complete. */
  stop: () => Promise<unknown>;
}

/**
 * Runs every transport-independent check as steps of `t`.
 *
 * @param t The test context.
 * @param ctx Client, audit file and how to stop the gateway.
 */
export async function checkObserveGateway(t: Deno.TestContext, ctx: CheckContext): Promise<void> {
  const { client } = ctx;

  await t.step(
    "the server's instructions say how to start: list_targets, dry run, approvals",
    () => {
      const instructions = client.getInstructions() ?? "";
      for (const words of ["list_targets", "dry_run", "approval_id", "no shell"]) {
        assert.ok(instructions.includes(words), `${words} missing from: ${instructions}`);
      }
    },
  );

  await t.step(
    "tools/list shows exactly the observe tools, annotated read-only with capability and tier",
    async () => {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((tool) => tool.name).sort(), [...OBSERVE_TOOLS].sort());
      const hidden = CATALOG.filter((op) => op.tier !== "observe").map((op) => op.name);
      assert.ok(hidden.includes("service_control") && hidden.includes("package_upgrade"));
      for (const tool of tools) {
        assert.ok(!hidden.includes(tool.name), `${tool.name} must not be listed`);
        assert.equal(tool.annotations?.readOnlyHint, true, tool.name);
        assert.equal(tool.annotations?.destructiveHint, false, tool.name);
        const meta = tool._meta as Record<string, unknown>;
        assert.match(String(meta["tailops/capability"]), /^(system|file|network):read$/, tool.name);
        assert.ok(tool.outputSchema, `${tool.name} has an output schema`);
        const properties = (tool.inputSchema.properties ?? {}) as Record<string, unknown>;
        assert.ok("target" in properties && "dry_run" in properties, tool.name);
      }
    },
  );

  await t.step(
    "every local operation runs for real and reports ok or a plain failure code",
    async () => {
      const calls: [string, Record<string, unknown>][] = [
        ["system_status", {}],
        ["top_processes", { limit: 3, sort: "memory" }],
        ["service_status", { unit: "ssh.service" }],
        ["journal_logs", { lines: 5 }],
        ["listening_sockets", {}],
        ["package_updates", {}],
        ["list_directory", { path: "/var/log" }],
      ];
      const outcomes = await Promise.all(
        calls.map(([name, args]) => call(client, name, { target: "local", ...args })),
      );
      const byName = Object.fromEntries(calls.map(([name], i) => [name, outcomes[i]]));
      for (const [name, called] of Object.entries(byName)) {
        const entry = only(called);
        if (entry.status === "ok") {
          assert.equal(called.isError, false, name);
          assert.ok(entry.data, `${name} has data`);
        } else {
          assert.equal(entry.status, "failed", `${name}: ${called.text}`);
          assert.ok(PLAIN_FAILURES.includes(entry.error!.code), `${name}: ${called.text}`);
          assert.ok(!/\n\s+at /.test(entry.error!.message), `${name}: no stack trace`);
        }
      }
      // These need no optional program or systemd: they must work on any Linux host.
      for (
        const name of ["system_status", "top_processes", "listening_sockets", "list_directory"]
      ) {
        assert.equal(only(byName[name]).status, "ok", `${name}: ${byName[name].text}`);
      }
      const status = only(byName.system_status).data!;
      assert.equal(status.hostname, Deno.hostname());
      assert.ok((status.uptime_seconds as number) > 0);
      const top = only(byName.top_processes).data!;
      assert.equal(top.sort, "memory");
      assert.ok((top.processes as unknown[]).length <= 3);
      assert.equal(only(byName.list_directory).data!.path, "/var/log");
    },
  );

  await t.step(
    "read_file reads a file under /var/log and refuses /etc/passwd as forbidden",
    async () => {
      const listing = only(
        await call(client, "list_directory", { target: "local", path: "/var/log" }),
      );
      const entries = listing.data!.entries as { name: string; type: string; size: number }[];
      const file = entries.find((e) => e.type === "file" && e.size > 0);
      assert.ok(file, "/var/log has a non-empty regular file");
      const read = await call(client, "read_file", {
        target: "local",
        path: `/var/log/${file.name}`,
        max_bytes: 64,
      });
      assert.equal(read.isError, false, read.text);
      const data = only(read).data!;
      assert.equal(data.path, `/var/log/${file.name}`);
      assert.equal(data.size, file.size);
      assert.ok((data.content as string).length > 0);

      const refused = await call(client, "read_file", { target: "local", path: "/etc/passwd" });
      assert.equal(refused.isError, true);
      const entry = only(refused);
      assert.equal(entry.status, "failed");
      assert.equal(entry.error!.code, "forbidden");
      assert.ok(!refused.text.includes("root:x:0:0"), "no content of /etc/passwd leaks");

      const dotted = await call(client, "read_file", {
        target: "local",
        path: "/var/log/../../etc/passwd",
      });
      assert.equal(dotted.isError, true);
      assert.match(dotted.text, /Invalid path/);
    },
  );

  await t.step("dry run returns the plan with its argv and runs nothing", async () => {
    const planned = await call(client, "top_processes", {
      target: "local",
      dry_run: true,
      limit: 2,
    });
    assert.equal(planned.isError, false, planned.text);
    const entry = only(planned);
    assert.equal(entry.status, "planned");
    assert.equal(entry.data, undefined);
    const argv = entry.plan!.argv as string[][];
    assert.equal(argv[0][0], "ps");
    assert.ok(Array.isArray(entry.plan!.shown_as ?? entry.plan!.command_lines));
    assert.match(planned.text, /Dry run, nothing was run/);

    const file = only(
      await call(client, "read_file", { target: "local", path: "/var/log/x.log", dry_run: true }),
    );
    assert.equal(file.status, "planned");
    assert.equal(file.plan!.path, "/var/log/x.log");
    assert.deepEqual(file.plan!.roots, ["/var/log"]);
  });

  await t.step(
    "a call past the policy's parameter limit is denied with param_constraint",
    async () => {
      const denied = await call(client, "journal_logs", { target: "local", lines: 5000 });
      assert.equal(denied.isError, true);
      const entry = only(denied);
      assert.equal(entry.status, "denied");
      assert.equal(entry.error!.code, "param_constraint");
      assert.match(entry.error!.message, /lines/);
    },
  );

  await t.step(
    "a control tool is not listed and calling it answers like an unknown tool",
    async () => {
      for (const name of ["service_control", "package_upgrade", "no_such_tool"]) {
        let text: string;
        try {
          const called = await call(client, name, {
            target: "local",
            unit: "ssh",
            action: "restart",
          });
          assert.equal(called.isError, true, name);
          text = called.text;
        } catch (error) {
          text = (error as Error).message;
        }
        assert.match(text, new RegExp(`Tool "${name}" not found`));
      }
    },
  );

  await t.step(
    "bad arguments are tool errors with a clear message and the gateway keeps serving",
    async () => {
      const cases: [string, Record<string, unknown>, RegExp][] = [
        ["top_processes", { limit: "ten" }, /expected number, received string at limit/],
        ["system_status", { bogus: 1 }, /Unrecognized key: "bogus"/],
        ["service_status", { unit: "a".repeat(10 * 1024) }, /Invalid unit/],
        ["journal_logs", { since: "yesterday; rm -rf /" }, /Invalid since/],
        ["system_status", { target: "nope" }, /unknown_target|No target has the id "nope"/],
      ];
      for (const [name, args, message] of cases) {
        const called = await call(client, name, { target: "local", ...args });
        assert.equal(called.isError, true, `${name} ${JSON.stringify(args).slice(0, 60)}`);
        assert.match(called.text, message);
        assert.ok(called.text.length < 2000, "the message stays short");
      }
      const after = await call(client, "system_status", { target: "local" });
      assert.equal(only(after).status, "ok", after.text);
    },
  );

  await t.step(
    "after shutdown the audit log verifies and links decided and finished records by call",
    async () => {
      await ctx.stop();
      const verified = await runCli(["audit", "verify", ctx.auditFile]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      assert.match(verified.stdout, /^OK: \d+ records, chain intact/);

      const records = await readAudit(ctx.auditFile);
      assert.equal(records[0].event, "config_loaded");
      // Calls refused before the gate are `refused` records (no target, no call id).
      const calls = records.filter((r) => r.tool !== undefined && r.event !== "refused");
      for (const r of calls) {
        assert.ok(r.identity && ctx.identity(r.identity), `identity ${r.identity}`);
        assert.equal(r.target, "local");
        assert.ok(r.call, "each call record has a call id");
      }
      const decided = new Map<string, AuditLine>(
        calls.filter((r) => r.event === "decided").map((r) => [r.call!, r]),
      );
      const finished = calls.filter((r) => r.event === "finished");
      assert.ok(finished.length >= 8, "the real runs were finished");
      for (const end of finished) {
        const start = decided.get(end.call!);
        assert.ok(start, `finished ${end.call} has a decided record`);
        assert.ok(start.seq < end.seq);
        assert.equal(start.tool, end.tool);
        assert.equal(start.identity, end.identity);
      }
      const dryRuns = [...decided.values()].filter((r) => r.detail?.dry_run === true);
      assert.deepEqual(dryRuns.map((r) => r.tool).sort(), ["read_file", "top_processes"]);
      for (const dry of dryRuns) {
        assert.ok(!finished.some((r) => r.call === dry.call), "a dry run has no finished record");
      }
      const denials = calls.filter((r) => r.event === "denied");
      assert.ok(denials.some((r) => r.tool === "journal_logs" && r.reason === "param_constraint"));
      assert.ok(denials.some((r) => r.tool === "read_file" && r.reason === "forbidden"));
      // Invalid arguments never reach the gate: no call records, but a `refused` record.
      assert.ok(
        !calls.some((r) =>
          r.tool === "top_processes" && (r.args as { limit?: unknown } | undefined)?.limit === "ten"
        ),
      );
      assert.ok(
        records.some((r) =>
          r.event === "refused" && r.reason === "bad_arguments" && r.tool === "top_processes"
        ),
      );
    },
  );

  await t.step(
    "the shutdown after calls is recorded last, stopped, then the final signed checkpoint",
    async () => {
      const records = await readAudit(ctx.auditFile);
      const events = records.map((r) => r.event).join(",");
      assert.deepEqual(records.slice(-2).map((r) => r.event), ["stopped", "checkpoint"], events);
      assert.equal((records.at(-1)!.checkpoint as { final?: boolean }).final, true);
    },
  );
}

/**
 * A policy allowing every operation on every target, with a rate limit high
 * enough for admin-tier tests that call many times.
 */
export const ALLOW_ALL_POLICY = `version: 1
rate_limits:
  admin: { per_minute: 6000 }
rules:
  - id: all
    effect: allow
    operations: ["*"]
    targets: ["*"]
`;
