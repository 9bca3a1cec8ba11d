/**
 * The SSH fleet end to end: real sshd instances on distinct loopback
 * addresses, the real gateway under its `gateway` permission set, the
 * official SDK client over Streamable HTTP. One fleet of 21 sshd instances
 * is started once; the steps share it and run in order.
 */
import assert from "node:assert/strict";
import { type AuditLine, type CallToolResult, readAudit, runCli } from "./_gateway.ts";
import { establishedTo, type Fleet, type FleetTarget, startFleet } from "./_fleet.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";

const FAKE_PIN = `SHA256:${"A".repeat(43)}`;
const HOST_CAPS = ["system:read", "system:control", "system:admin", "network:read", "file:read"];

const WEB = Array.from({ length: 10 }, (_, i) => `web-${String(i + 1).padStart(2, "0")}`);
const DB = Array.from({ length: 5 }, (_, i) => `db-${String(i + 1).padStart(2, "0")}`);
const CACHE = Array.from({ length: 5 }, (_, i) => `cache-${String(i + 1).padStart(2, "0")}`);
/** The 20 fan-out targets, in registry order. */
const FLEET = [...WEB, ...DB, ...CACHE];
/** Stopped before the 20-target fan-out. */
const DOWN = "web-07";
/** Denied system_status by a policy rule on its id. */
const DENIED = "db-03";

/** Connect timeout of the target whose socket never speaks SSH. */
const SILENT_TIMEOUT_MS = 800;

function fleetTargets(filesDir: string, silentPort: number): FleetTarget[] {
  return [
    ...WEB.map((id, i) => ({
      id,
      instance: i,
      tags: ["web"],
      groups: ["fleet", i < 5 ? "prod" : "staging"],
    })),
    ...DB.map((id, i) => ({ id, instance: 10 + i, tags: ["db"], groups: ["fleet", "prod"] })),
    // Verified against a hashed known_hosts file rather than a pin.
    ...CACHE.map((id, i) => ({
      id,
      instance: 15 + i,
      tags: ["cache"],
      groups: ["fleet", "staging"],
      knownHosts: true,
    })),
    {
      id: "ops-sudo",
      instance: 0,
      tags: ["ops"],
      capabilities: HOST_CAPS,
      sudo: "[service_control]",
      roots: [filesDir],
    },
    { id: "ops-plain", instance: 1, tags: ["ops"], capabilities: HOST_CAPS, roots: [filesDir] },
    { id: "pool-1", instance: 20, tags: ["pool"] },
    { id: "bad-key", instance: 0, tags: ["broken"], pin: FAKE_PIN },
    {
      id: "silent",
      instance: 0,
      tags: ["broken"],
      address: { host: "127.0.0.1", port: silentPort },
      connectTimeoutMs: SILENT_TIMEOUT_MS,
    },
  ];
}

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe-everything",
  "    effect: allow",
  "    tiers: [observe]",
  '    targets: ["*"]',
  `  - id: no-status-on-${DENIED}`,
  "    effect: deny",
  "    operations: [system_status, service_status]",
  `    targets: [${DENIED}]`,
  "  - id: ops-control",
  "    effect: allow",
  "    operations: [service_control, package_upgrade]",
  '    targets: ["tag:ops"]',
  "",
].join("\n");

interface Entry {
  target: string;
  status: string;
  duration_ms: number;
  exit_code?: number | null;
  data?: Record<string, unknown>;
  plan?: Record<string, unknown>;
  error?: { code: string; message: string };
}

interface Structured {
  tool: string;
  dry_run: boolean;
  summary: string;
  fanout_id?: string;
  results: Entry[];
}

interface Called {
  result: Structured;
  isError: boolean;
  text: string;
}

async function call(
  fleet: Fleet,
  name: string,
  args: Record<string, unknown>,
  onprogress?: (p: { progress: number; total?: number; message?: string }) => void,
): Promise<Called> {
  const raw = await fleet.client.callTool(
    { name, arguments: args },
    onprogress ? { onprogress } : undefined,
  ) as CallToolResult;
  const text = raw.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
  assert.ok(raw.structuredContent, `${name} returned no structured content: ${text}`);
  return { result: raw.structuredContent as unknown as Structured, isError: !!raw.isError, text };
}

/** The only entry of a one-target call, checked to be `ok`. */
async function one(fleet: Fleet, name: string, args: Record<string, unknown>): Promise<Entry> {
  const { result } = await call(fleet, name, args);
  assert.equal(result.results.length, 1);
  const [entry] = result.results;
  assert.equal(entry.status, "ok", `${name}: ${JSON.stringify(entry)}`);
  return entry;
}

function targetsOf(result: Structured): string[] {
  return result.results.map((r) => r.target);
}

/** The most targets of one fan-out that were between `decided` and `finished` at once. */
function maxInFlight(records: readonly AuditLine[]): number {
  let running = 0;
  let most = 0;
  for (const r of records) {
    if (r.event === "decided") most = Math.max(most, ++running);
    if (r.event === "finished") running--;
  }
  return most;
}

/** Logins sshd accepted on a target's instance so far (its log survives restarts). */
async function logins(fleet: Fleet, id: string): Promise<number> {
  const log = await Deno.readTextFile(fleet.instanceOf(id).logPath);
  return log.split("\n").filter((line) => line.includes("Accepted publickey for")).length;
}

async function fanoutRecords(fleet: Fleet, fanout: string | undefined): Promise<AuditLine[]> {
  assert.ok(fanout, "a multi-target call carries a fanout id");
  return (await readAudit(fleet.gateway.auditFile)).filter((r) => r.fanout === fanout);
}

Deno.test({
  name: "The gateway runs every host operation and multi-target calls over a real SSH fleet",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // A socket that accepts TCP connections and never speaks SSH.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const silentPort = (silent.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    const accepting = (async () => {
      for await (const conn of silent) held.push(conn);
    })().catch(() => {});
    using _silent = {
      [Symbol.dispose]() {
        silent.close();
        for (const conn of held) conn.close();
        void accepting;
      },
    };
    const started = performance.now();
    await using fleet = await startFleet({
      instances: 21,
      targets: (filesDir) => fleetTargets(filesDir, silentPort),
      policy: POLICY,
      connectTimeoutMs: 3_000,
    });
    console.log(
      `fleet of 21 sshd and the gateway up in ${Math.round(performance.now() - started)} ms`,
    );
    const hostname = Deno.hostname();

    await t.step(
      "tools/list offers every host operation, so results are checked against their output schemas",
      async () => {
        // Once listed, the SDK client validates each call's structuredContent against the tool's outputSchema.
        const { tools } = await fleet.client.listTools();
        const names = tools.map((tool) => tool.name);
        // Every host operation the fleet's ops targets hold and POLICY allows: observe, plus ops-control's.
        const held = HOST_OPERATIONS.filter((op) =>
          HOST_CAPS.includes(op.capability) &&
          (op.tier === "observe" || ["service_control", "package_upgrade"].includes(op.name))
        );
        for (const name of held.map((op) => op.name)) {
          assert.ok(names.includes(name), `${name} missing from ${names.join(", ")}`);
          assert.ok(
            tools.find((tool) => tool.name === name)!.outputSchema,
            `${name} has no outputSchema`,
          );
        }
      },
    );

    await t.step("system_status over SSH reports this host's name, load and memory", async () => {
      const entry = await one(fleet, "system_status", { target: "ops-plain" });
      const data = entry.data as {
        hostname: string;
        uptime_seconds: number;
        memory: { total_bytes: number };
        disks: unknown[];
      };
      assert.equal(data.hostname, hostname);
      assert.ok(data.uptime_seconds > 0);
      assert.ok(data.memory.total_bytes > 0);
      assert.ok(data.disks.length > 0);
    });

    await t.step("top_processes over SSH lists processes sorted by memory", async () => {
      const entry = await one(fleet, "top_processes", {
        target: "ops-plain",
        sort: "memory",
        limit: 5,
      });
      const data = entry.data as {
        total_processes: number;
        processes: { pid: number; rss_bytes: number }[];
      };
      assert.equal(data.processes.length, 5);
      assert.ok(data.total_processes >= 21, "at least the 21 sshd processes run");
      const rss = data.processes.map((p) => p.rss_bytes);
      assert.deepEqual(rss, [...rss].sort((a, b) => b - a));
    });

    await t.step(
      "service_status without systemd as PID 1 fails plainly as unsupported",
      async () => {
        const { result, isError, text } = await call(fleet, "service_status", {
          target: "ops-plain",
          unit: "ssh",
        });
        assert.equal(isError, true);
        const [entry] = result.results;
        assert.equal(entry.status, "failed");
        assert.equal(entry.error?.code, "unsupported", JSON.stringify(entry));
        assert.match(entry.error!.message, /systemd is not running/);
        assert.match(text, /systemd is not running/);
      },
    );

    await t.step("journal_logs over SSH answers with entries or a plain failure", async () => {
      const { result } = await call(fleet, "journal_logs", { target: "ops-plain", lines: 5 });
      const [entry] = result.results;
      console.log(`journal_logs: ${entry.status} ${entry.error?.code ?? ""}`);
      if (entry.status === "ok") {
        assert.ok(Array.isArray((entry.data as { entries: unknown[] }).entries));
      } else {
        assert.equal(entry.status, "failed");
        assert.ok(
          ["unsupported", "program_missing"].includes(entry.error!.code),
          JSON.stringify(entry),
        );
      }
    });

    await t.step("listening_sockets over SSH shows the target's own sshd", async () => {
      const entry = await one(fleet, "listening_sockets", { target: "ops-plain" });
      const sockets =
        (entry.data as { sockets: { protocol: string; address: string; port: number }[] })
          .sockets;
      const sshd = fleet.instanceOf("ops-plain");
      assert.ok(
        sockets.some((s) =>
          s.protocol === "tcp" && s.address === sshd.host && s.port === sshd.port
        ),
        `no listener ${sshd.host}:${sshd.port} in ${JSON.stringify(sockets.slice(0, 10))}`,
      );
    });

    await t.step("package_updates over SSH reports apt's pending updates", async () => {
      const entry = await one(fleet, "package_updates", { target: "ops-plain" });
      const data = entry.data as { manager: string; updates: unknown[] };
      assert.equal(data.manager, "apt");
      assert.ok(Array.isArray(data.updates));
    });

    await t.step(
      "read_file and list_directory work under files.roots and refuse outside",
      async () => {
        const read = await one(fleet, "read_file", {
          target: "ops-plain",
          path: `${fleet.filesDir}/hello.txt`,
        });
        assert.equal((read.data as { content: string }).content, "hello from the fleet\n");
        const list = await one(fleet, "list_directory", {
          target: "ops-plain",
          path: fleet.filesDir,
        });
        const entries = (list.data as { entries: { name: string; type: string }[] }).entries;
        assert.deepEqual(
          entries.map((e) => [e.name, e.type]).sort(),
          [["hello.txt", "file"], ["sub", "directory"]],
        );
        for (
          const [name, args] of [
            ["read_file", { path: "/etc/passwd" }],
            ["list_directory", { path: "/etc" }],
          ] as const
        ) {
          const { result, isError } = await call(fleet, name, { target: "ops-plain", ...args });
          assert.equal(isError, true);
          assert.equal(result.results[0].status, "failed");
          assert.equal(result.results[0].error?.code, "forbidden");
          assert.match(result.results[0].error!.message, /outside the allowed roots/);
        }
      },
    );

    await t.step(
      "dry-run control ops show the exact remote line, sudo only where listed",
      async () => {
        const show =
          "'systemctl' 'show' '--no-pager' '--property=Id,Description,LoadState,ActiveState,SubState,UnitFileState,MainPID,ActiveEnterTimestamp,StateChangeTimestamp,MemoryCurrent' '--' 'nginx.service'";
        const restart = "'systemctl' '--no-ask-password' 'restart' '--' 'nginx.service'";
        const control = async (target: string) => {
          const { result } = await call(fleet, "service_control", {
            target,
            unit: "nginx.service",
            action: "restart",
            dry_run: true,
          });
          assert.equal(result.results[0].status, "planned", JSON.stringify(result.results[0]));
          // Both commands run as one exec: dry run shows that script, and each command in it.
          const plan = result.results[0].plan as {
            remote_command_lines: string[];
            commands_in_script: string[];
            runs_as: string;
          };
          const lines = plan.commands_in_script;
          assert.deepEqual(plan.remote_command_lines, [
            `(${lines[0]}); printf '\\n%s %s %s\\n' <BOUNDARY> 0 $?; ` +
            `printf '\\n%s %s\\n' <BOUNDARY> 0 >&2; ` +
            `(${lines[1]}); printf '\\n%s %s %s\\n' <BOUNDARY> 1 $?; ` +
            `printf '\\n%s %s\\n' <BOUNDARY> 1 >&2`,
          ]);
          assert.match(plan.runs_as, /one exec/);
          return lines;
        };
        assert.deepEqual(await control("ops-sudo"), [
          `exec sudo -n -- ${restart}`,
          `exec sudo -n -- ${show}`,
        ]);
        assert.deepEqual(await control("ops-plain"), [`exec ${restart}`, `exec ${show}`]);

        const upgrade = async (target: string) => {
          const { result } = await call(fleet, "package_upgrade", {
            target,
            packages: ["curl"],
            dry_run: true,
          });
          assert.equal(result.results[0].status, "planned", JSON.stringify(result.results[0]));
          const lines = result.results[0].plan!.remote_command_lines as string[];
          assert.equal(lines.length, 1, "first_available is one remote script");
          return lines[0];
        };
        const apt =
          "'apt-get' '-y' '-q' '-o' 'Dpkg::Options::=--force-confdef' '-o' 'Dpkg::Options::=--force-confold' 'install' '--only-upgrade' '--' 'curl'";
        // ops-sudo lists only service_control: package_upgrade runs without sudo there.
        for (const target of ["ops-sudo", "ops-plain"]) {
          const script = await upgrade(target);
          assert.ok(script.includes(`exec ${apt};`), script);
          assert.ok(!script.includes("sudo"), script);
        }
      },
    );

    await t.step("selectors pick the right targets in registry order", async () => {
      const picked = async (targets: string | string[]) => {
        const { result } = await call(fleet, "system_status", { targets, dry_run: true });
        return targetsOf(result);
      };
      assert.deepEqual(await picked("tag:web"), WEB);
      assert.deepEqual(await picked("group:prod"), [...WEB.slice(0, 5), ...DB]);
      assert.deepEqual(await picked("web-*"), WEB);
      assert.deepEqual(await picked("cache-0?"), CACHE);
      assert.deepEqual(await picked(["db-02", "cache-01", "web-03"]), [
        "web-03",
        "db-02",
        "cache-01",
      ]);
      assert.deepEqual(await picked("tag:web&group:staging"), WEB.slice(5));
      assert.deepEqual(
        await picked(["tag:web", "tag:db", "!group:staging", "!db-02"]),
        [...WEB.slice(0, 5), "db-01", "db-03", "db-04", "db-05"],
      );
      const none = await fleet.client.callTool({
        name: "system_status",
        arguments: { targets: "tag:nothing-here" },
      }) as CallToolResult;
      assert.equal(none.isError, true);
      assert.deepEqual(none.content, [{
        type: "text",
        text:
          'no_targets: No target matches ["tag:nothing-here"]; call list_targets to see the targets you may use',
      }]);
    });

    let fanoutId: string | undefined;
    await t.step(
      "a fan-out to 20 targets reports 18 ok, 1 unreachable and 1 denied in order",
      async () => {
        // DOWN holds a pooled connection when its sshd dies: the pool must notice and redial.
        await one(fleet, "system_status", { target: DOWN });
        await fleet.testbed.kill(fleet.instanceIndex(DOWN));
        const begun = performance.now();
        const { result, text } = await call(fleet, "system_status", { targets: "group:fleet" });
        const wall = performance.now() - begun;
        fanoutId = result.fanout_id;
        assert.deepEqual(targetsOf(result), FLEET);
        const statuses = Object.fromEntries(result.results.map((r) => [r.target, r.status]));
        for (const id of FLEET) {
          const expected = id === DOWN ? "unreachable" : id === DENIED ? "denied" : "ok";
          assert.equal(
            statuses[id],
            expected,
            `${id}: ${JSON.stringify(result.results.find((r) => r.target === id))}`,
          );
        }
        const down = result.results.find((r) => r.target === DOWN)!;
        assert.equal(down.error?.code, "unreachable");
        assert.match(
          down.error!.message,
          new RegExp(fleet.instanceOf(DOWN).host.replaceAll(".", "\\.")),
        );
        assert.match(down.error!.message, /refused/i);
        assert.ok(down.duration_ms < 3_000, `unreachable after ${down.duration_ms} ms`);
        console.log(`unreachable: ${down.error!.message}`);
        const denied = result.results.find((r) => r.target === DENIED)!;
        assert.equal(denied.error?.code, "policy_deny");
        assert.match(denied.error!.message, new RegExp(`no-status-on-${DENIED}`));
        assert.equal(result.summary, "20 targets: 18 ok, 1 unreachable, 1 denied");
        assert.ok(text.includes(result.summary), text);
        for (const r of result.results.filter((r) => r.status === "ok")) {
          assert.equal((r.data as { hostname: string }).hostname, hostname);
        }
        console.log(`cold fan-out to 20 sshd (one down, one denied): ${Math.round(wall)} ms`);
        assert.ok(wall < 10_000, `fan-out took ${wall} ms`);
        await fleet.testbed.restart(fleet.instanceIndex(DOWN));
      },
    );

    await t.step("the fan-out is audited per target under one fanout id", async () => {
      const records = await fanoutRecords(fleet, fanoutId);
      const allowed = FLEET.filter((id) => id !== DENIED);
      const ids = (event: string) =>
        records.filter((r) => r.event === event).map((r) => r.target).sort();
      assert.deepEqual(ids("decided"), [...allowed].sort());
      assert.deepEqual(ids("finished"), [...allowed].sort());
      assert.deepEqual(ids("denied"), [DENIED]);
      const denial = records.find((r) => r.event === "denied")!;
      assert.equal(denial.decision, "deny");
      assert.equal(denial.reason, "policy_deny");
      assert.equal(denial.rule, `no-status-on-${DENIED}`);
      assert.equal(records.length, 2 * allowed.length + 1);
      const down = records.find((r) => r.event === "finished" && r.target === DOWN)!;
      assert.equal(down.status, "error");
      assert.equal(down.reason, "unreachable");
      assert.ok(records.every((r) => r.tool === "system_status"));
      const verify = await runCli(["audit", "verify", fleet.gateway.auditFile]);
      assert.equal(verify.code, 0, verify.stderr);
      assert.match(verify.stdout, /OK/);
    });

    await t.step("forks bounds how many targets run at once", async () => {
      const inFlight = async (forks: number | undefined) => {
        const { result } = await call(fleet, "system_status", {
          targets: "group:fleet",
          ...(forks === undefined ? {} : { forks }),
        });
        assert.equal(result.summary, "20 targets: 19 ok, 1 denied", result.summary);
        return maxInFlight(await fanoutRecords(fleet, result.fanout_id));
      };
      assert.equal(await inFlight(1), 1);
      assert.ok((await inFlight(3)) <= 3);
      assert.ok((await inFlight(undefined)) > 1, "the default forks run targets in parallel");
    });

    await t.step("fail_fast and max_failures skip the targets not yet started", async () => {
      const { result } = await call(fleet, "service_status", {
        targets: "tag:web",
        unit: "ssh",
        forks: 1,
        fail_fast: true,
      });
      assert.deepEqual(targetsOf(result), WEB);
      assert.deepEqual(
        result.results.map((r) => r.status),
        ["failed", ...Array(9).fill("skipped")],
      );
      assert.equal(result.results[1].error?.code, "skipped");
      assert.equal(result.summary, "10 targets: 1 failed, 9 skipped");

      const capped = await call(fleet, "service_status", {
        targets: "tag:web",
        unit: "ssh",
        forks: 1,
        max_failures: 3,
      });
      assert.deepEqual(
        capped.result.results.map((r) => r.status),
        [...Array(3).fill("failed"), ...Array(7).fill("skipped")],
      );
      let records = await fanoutRecords(fleet, capped.result.fanout_id);
      assert.deepEqual(
        records.filter((r) => r.event === "decided").map((r) => r.target),
        WEB.slice(0, 3),
        "skipped targets never reach the executor",
      );

      // A denied target is reported as denied even after skipping began.
      const mixed = await call(fleet, "service_status", {
        targets: ["tag:web", "tag:db"],
        unit: "ssh",
        forks: 1,
        fail_fast: true,
      });
      assert.deepEqual(
        mixed.result.results.map((r) => [r.target, r.status]),
        [...WEB, ...DB].map((id, i) => [
          id,
          i === 0 ? "failed" : id === DENIED ? "denied" : "skipped",
        ]),
      );
      assert.equal(mixed.result.summary, "15 targets: 1 failed, 13 skipped, 1 denied");
      records = await fanoutRecords(fleet, mixed.result.fanout_id);
      assert.deepEqual(records.map((r) => [r.event, r.target]), [
        ["decided", WEB[0]],
        ["finished", WEB[0]],
        ["denied", DENIED],
      ]);
    });

    await t.step("progress notifications count 1..10 of 10 and name each target", async () => {
      const seen: { progress: number; total?: number; message?: string }[] = [];
      const { result } = await call(
        fleet,
        "system_status",
        { targets: "tag:web" },
        (p) => seen.push(p),
      );
      assert.equal(result.summary, "10 targets: 10 ok");
      assert.deepEqual(seen.map((p) => p.progress), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.ok(seen.every((p) => p.total === 10));
      assert.deepEqual(
        seen.map((p) => p.message?.split(":")[0]).sort(),
        WEB,
        JSON.stringify(seen.map((p) => p.message)),
      );
      assert.ok(seen.every((p) => / ok$/.test(p.message ?? "")));
    });

    await t.step("30 sequential calls to one target share one TCP connection", async () => {
      const { host, port } = fleet.instanceOf("pool-1");
      const loginsBefore = await logins(fleet, "pool-1");
      for (let i = 0; i < 30; i++) {
        await one(fleet, "system_status", { target: "pool-1" });
      }
      assert.equal(await establishedTo(host, port), 1);
      assert.equal(await logins(fleet, "pool-1") - loginsBefore, 1, "one login for 30 calls");
    });

    await t.step("after sshd restarts, the next call reconnects and works", async () => {
      const { host, port } = fleet.instanceOf("pool-1");
      const loginsBefore = await logins(fleet, "pool-1");
      await fleet.testbed.restart(fleet.instanceIndex("pool-1"));
      assert.equal(await establishedTo(host, port), 0, "the restart dropped the pooled connection");
      for (let i = 0; i < 10; i++) await one(fleet, "system_status", { target: "pool-1" });
      assert.equal(await establishedTo(host, port), 1);
      assert.equal(await logins(fleet, "pool-1") - loginsBefore, 1, "one new login after restart");
    });

    await t.step("a wrong pinned host key fails as untrusted naming the key seen", async () => {
      const { result, isError } = await call(fleet, "system_status", { target: "bad-key" });
      assert.equal(isError, true);
      const [entry] = result.results;
      assert.equal(entry.status, "failed");
      assert.equal(entry.error?.code, "untrusted", JSON.stringify(entry));
      assert.ok(entry.error!.message.includes(FAKE_PIN), entry.error!.message);
      console.log(`untrusted: ${entry.error!.message}`);
      assert.ok(
        fleet.testbed.hostKeys.some((k) => entry.error!.message.includes(k.fingerprint)),
        entry.error!.message,
      );
      // The gateway keeps serving, on the same sshd through another target.
      await one(fleet, "system_status", { target: "ops-sudo" });
      assert.equal(
        (await call(fleet, "system_status", { targets: "tag:db" })).result.summary,
        "5 targets: 4 ok, 1 denied",
      );
    });

    await t.step(
      "a host that never speaks SSH is unreachable within its connect timeout",
      async () => {
        const begun = performance.now();
        const { result } = await call(fleet, "system_status", { targets: ["silent", "web-01"] });
        const wall = performance.now() - begun;
        assert.deepEqual(result.results.map((r) => [r.target, r.status]), [
          ["web-01", "ok"],
          ["silent", "unreachable"],
        ]);
        const entry = result.results[1];
        assert.equal(entry.error?.code, "unreachable");
        assert.match(entry.error!.message, new RegExp(`127\\.0\\.0\\.1:${silentPort}`));
        assert.match(entry.error!.message, new RegExp(`within ${SILENT_TIMEOUT_MS} ms`));
        assert.ok(
          entry.duration_ms >= SILENT_TIMEOUT_MS * 0.9,
          `gave up after ${entry.duration_ms} ms`,
        );
        assert.ok(wall < SILENT_TIMEOUT_MS + 1_500, `the call took ${wall} ms`);
      },
    );

    if (Deno.env.get("FLEET_DEBUG")) console.log(fleet.gateway.stderr());
    console.log(`ssh fleet test: ${Math.round(performance.now() - started)} ms in all`);
  },
});
