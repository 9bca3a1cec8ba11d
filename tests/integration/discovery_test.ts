/**
 * Issue 10 through the real gateway: `list_targets`, selection errors that
 * name close matches, `log_search` and `package_refresh` on real sshd
 * targets, with the official SDK client over Streamable HTTP.
 */
import assert from "node:assert/strict";
import { readAudit } from "./_gateway.ts";
import { callFleet, OBSERVE_EVERYTHING, startFleet } from "./_fleet.ts";
import { measureToolList, TOOL_LIST_BUDGET } from "../../src/mcp/tool_budget.ts";

const HOST_CAPS = ["system:read", "system:admin", "network:diag"];

const POLICY = [
  ...OBSERVE_EVERYTHING,
  "  - id: nothing-on-vault",
  "    effect: deny",
  '    operations: ["*"]',
  "    targets: [vault-01]",
  "  - id: diag-to-loopback-only",
  "    effect: allow",
  "    operations: [tcp_check, dns_lookup, ping]",
  '    targets: ["tag:db"]',
  "    params:",
  "      host: { enum: [127.0.0.2, localhost] }",
  "      port: { max: 65535, optional: true }",
  "  - id: staging-packages-approved",
  "    effect: approve",
  "    operations: [package_refresh, package_upgrade]",
  '    targets: ["group:staging"]',
  "",
].join("\n");

const call = callFleet;

Deno.test({
  name: "a model finds its targets, what it may do there, and searches their logs",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    await using fleet = await startFleet({
      instances: 2,
      targets: () => [
        { id: "db-01", instance: 0, tags: ["db"], groups: ["prod"], capabilities: HOST_CAPS },
        { id: "db-02", instance: 1, tags: ["db"], groups: ["prod"], capabilities: HOST_CAPS },
        {
          id: "web-01",
          instance: 0,
          tags: ["web"],
          groups: ["staging"],
          capabilities: HOST_CAPS,
          sudo: "[log_search]",
        },
        { id: "vault-01", instance: 1, tags: ["secret"], capabilities: HOST_CAPS },
      ],
      policy: POLICY,
    });

    await t.step(
      "tools/list starts with list_targets and stays within its byte budget",
      async () => {
        const { tools } = await fleet.client.listTools();
        assert.equal(tools[0].name, "list_targets");
        for (const name of ["log_search", "package_refresh"]) {
          assert.ok(tools.some((tool) => tool.name === name), name);
        }
        const size = measureToolList(tools);
        assert.ok(size.bytes <= TOOL_LIST_BUDGET.totalBytes, `${size.bytes} bytes`);
        assert.ok(size.largest.bytes <= TOOL_LIST_BUDGET.toolBytes, JSON.stringify(size.largest));
      },
    );

    await t.step("list_targets shows only usable targets, their tools and approvals", async () => {
      const all = await call(fleet, "list_targets", {});
      assert.equal(all.isError, false, all.text);
      assert.deepEqual(all.results.map((r) => r.target), ["db-01", "db-02", "web-01"]);
      const web = all.results.find((r) => r.target === "web-01")!.data!;
      assert.equal(web.type, "ssh");
      assert.deepEqual(web.groups, ["staging"]);
      assert.ok((web.tools as string[]).includes("log_search"));
      assert.deepEqual(web.approval, ["package_refresh", "package_upgrade"]);
      const db = all.results.find((r) => r.target === "db-01")!.data!;
      assert.equal((db.tools as string[]).includes("package_refresh"), false);
      assert.match(all.text, /tools: .*top_processes/);

      const dbs = await call(fleet, "list_targets", { targets: "tag:db" });
      assert.deepEqual(dbs.results.map((r) => r.target), ["db-01", "db-02"]);
      const refresh = await call(fleet, "list_targets", { tool: "package_refresh" });
      assert.deepEqual(refresh.results.map((r) => r.target), ["web-01"]);
    });

    await t.step("a target no tool may use is hidden, even from suggestions", async () => {
      const hidden = await call(fleet, "list_targets", { target: "vault-01" });
      assert.equal(hidden.isError, true);
      assert.match(hidden.text, /^unknown_target: No target has the id "vault-01"/);
      assert.doesNotMatch(hidden.text, /close: "vault/);
      const near = await call(fleet, "system_status", { target: "vault-0" });
      assert.equal(near.isError, true);
      assert.doesNotMatch(near.text, /vault-01/);
    });

    await t.step("unknown_target and no_targets name close matches and list_targets", async () => {
      const typo = await call(fleet, "system_status", { target: "db-1" });
      assert.equal(typo.isError, true);
      assert.match(typo.text, /^unknown_target: No target has the id "db-1" \(close: "db-01"/);
      assert.match(typo.text, /call list_targets/);
      const tag = await call(fleet, "top_processes", { targets: "tag:dbb" });
      assert.match(tag.text, /^no_targets: .*\(close: "tag:db".*list_targets/);
      const group = await call(fleet, "list_targets", { targets: "group:stagng" });
      assert.match(group.text, /^no_targets: .*"group:staging"/);
    });

    await t.step("log_search runs on real sshd with hostile patterns passed as data", async () => {
      const marker = `/tmp/i10-discovery-${crypto.randomUUID()}`;
      for (
        const pattern of [
          "-n 1 --merge --file=/etc/shadow",
          `$(touch ${marker}) \`touch ${marker}\` ; touch ${marker} | &`,
          "'\"\\' Ünïcødé ✓ 日本",
          "(a+)+$",
        ]
      ) {
        const { results, text } = await call(fleet, "log_search", {
          targets: "tag:db",
          pattern,
          since: "1d",
          until: "1m",
        });
        assert.equal(results.length, 2, text);
        for (const r of results) {
          // This machine keeps no journal files: an empty answer is still an answer.
          assert.equal(r.status, "ok", `${pattern}: ${JSON.stringify(r)}`);
          assert.equal(typeof r.data!.count, "number");
        }
      }
      assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
      const planned = await call(fleet, "log_search", {
        target: "web-01",
        pattern: "-n 1",
        dry_run: true,
      });
      assert.equal(planned.results[0].status, "planned");
      const plan = planned.results[0].plan!;
      assert.equal(plan.argv![0].at(-1), "--grep=-n 1");
      // One quoted word on the remote side, under sudo because web-01's sudo list names log_search.
      assert.match(plan.remote_command_lines![0], /^exec sudo -n -- .*'--grep=-n 1'$/);
    });

    await t.step(
      "log_search refuses bad patterns and time ranges before anything runs",
      async () => {
        const bad: [Record<string, unknown>, RegExp][] = [
          [{ pattern: "a\nb" }, /control characters/],
          [{ pattern: "x".repeat(201) }, /pattern/],
          [{ pattern: "(a+)+$", regex: true }, /nested quantifiers/],
          [{ pattern: "(?=a)", regex: true }, /Invalid pattern/],
          [{ pattern: "x", since: "--merge" }, /Invalid since/],
          [{ pattern: "x", until: "2024-05-01T12:00:00+02:00" }, /Invalid since/],
          [{ pattern: "x", unit: "-f" }, /Invalid unit/],
        ];
        const before = (await readAudit(fleet.gateway.auditFile)).filter((r) =>
          r.event === "decided"
        );
        for (const [args, message] of bad) {
          const out = await call(fleet, "log_search", { target: "db-01", ...args });
          assert.equal(out.isError, true, JSON.stringify(args));
          assert.match(out.text, message, JSON.stringify(args));
          assert.doesNotMatch(out.text, /\n\s+at /, "no stack trace");
        }
        const after = (await readAudit(fleet.gateway.auditFile)).filter((r) =>
          r.event === "decided"
        );
        assert.equal(after.length, before.length);
      },
    );

    await t.step("package_refresh plans a dry run and asks for approval on staging", async () => {
      const planned = await call(fleet, "package_refresh", { target: "web-01", dry_run: true });
      assert.equal(planned.results[0].status, "planned");
      assert.deepEqual(planned.results[0].plan!.argv![0], ["apt-get", "-q", "update"]);
      const asked = await call(fleet, "package_refresh", { target: "web-01" });
      assert.equal(asked.results[0].status, "approval_required");
      const notHere = await call(fleet, "package_refresh", { target: "db-01" });
      assert.equal(notHere.results[0].status, "denied");
    });

    await t.step(
      "diagnostics run from real sshd targets, to destinations the policy lists only",
      async () => {
        // db-01's own sshd listens on 127.0.0.2, the one address the rule lists.
        const { host: sshd, port } = fleet.instanceOf("db-01");
        assert.equal(sshd, "127.0.0.2");
        const open = await call(fleet, "tcp_check", { target: "db-01", host: sshd, port });
        assert.equal(open.results[0].status, "ok", open.text);
        assert.equal(open.results[0].data!.open, true);
        const dns = await call(fleet, "dns_lookup", { target: "db-02", host: "localhost" });
        assert.equal(dns.results[0].status, "ok", dns.text);
        assert.ok((dns.results[0].data!.addresses as string[]).length > 0);
        const echo = await call(fleet, "ping", { target: "db-01", host: sshd, count: 1 });
        // The ssh user may lack ping's socket rights on some hosts: a plain failure, not a crash.
        assert.ok(["ok", "failed"].includes(echo.results[0].status), echo.text);
        for (const host of ["127.0.0.1", "127.0.0.3", "10.0.0.1", "example.com"]) {
          const scan = await call(fleet, "tcp_check", { target: "db-01", host, port: 22 });
          assert.equal(scan.results[0].status, "denied", host);
          assert.equal(scan.results[0].error!.code, "param_constraint");
        }
        const elsewhere = await call(fleet, "tcp_check", {
          target: "web-01",
          host: "127.0.0.1",
          port,
        });
        assert.equal(elsewhere.results[0].status, "denied");
        const flag = await call(fleet, "tcp_check", {
          target: "db-01",
          host: "-oProxyCommand=x",
          port,
        });
        assert.equal(flag.isError, true);
        assert.match(flag.text, /Invalid host/);
      },
    );

    await t.step("each answered list_targets call leaves one audit record", async () => {
      const listed = (await readAudit(fleet.gateway.auditFile)).filter((r) => r.event === "listed");
      // Three answered calls; the one naming a hidden target was refused (and audited as such).
      assert.equal(listed.length, 3);
      assert.ok(listed.every((r) => r.tool === "list_targets" && r.identity));
    });
  },
});
