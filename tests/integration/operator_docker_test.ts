/**
 * Operator-defined operations on docker targets, through the real gateway
 * and the official SDK client against a real dockerd: each step is one
 * request from the gateway's allowlist of engine endpoints (no exec), a
 * parameter fills the container as data (checked as a container reference,
 * then percent-encoded into one path segment), dry run shows the exact
 * requests and the inspect check, and inspect answers are redacted like the
 * built-in container_inspect.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { connectHttp, readAudit, runCli, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";

const DB_SECRET = "op-Secret-2468-engine";

const OPS: Record<string, string> = {
  "app_bounce.yaml": `version: 1
name: app_bounce
title: Restart an app container
description: Restarts one container and reports its state.
target_types: [docker]
capability: container:control
mutates: true
parameters:
  name: { type: container, description: The container }
  grace: { type: integer, min: 0, max: 60, default: 1 }
steps:
  - engine: container_restart
    container: "{{name}}"
    timeout_s: "{{grace}}"
  - engine: container_inspect
    container: "{{name}}"
check:
  engine: container_inspect
  container: "{{name}}"
`,
  "app_signal.yaml": `version: 1
name: app_signal
title: Signal an app container
description: Sends a reload signal to one container.
target_types: [docker]
capability: container:control
mutates: true
parameters:
  name: { type: container }
  sig: { type: string, enum: [SIGHUP, SIGUSR1] }
steps:
  - engine: container_kill
    container: "{{name}}"
    signal: "{{sig}}"
`,
  "app_prefixed.yaml": `version: 1
name: app_prefixed
title: Restart app-SERVICE
description: Restarts the container named app-SERVICE.
target_types: [docker]
capability: container:control
mutates: true
parameters:
  svc: { type: string, pattern: "[A-Za-z0-9/._?#%&=-]{1,60}" }
steps:
  - engine: container_restart
    container: "app-{{svc}}"
    timeout_s: 0
`,
};

async function startedAt(docker: DockerdTestbed, name: string): Promise<string> {
  return await docker.docker("inspect", "--format", "{{.State.StartedAt}}", name);
}

Deno.test({
  name:
    "operator-defined engine requests restart, signal and inspect containers on a real dockerd, parameters as data",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const docker = await DockerdTestbed.start();
    const ops = await tempDirWith(OPS);
    try {
      await docker.docker(
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "app-web",
        "--env",
        `DB_PASSWORD=${DB_SECRET}`,
        docker.image ?? "tailops-test:latest",
        "sleep",
        "600",
      );
      await docker.runContainer("bystander");
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: engine
    type: docker
    capabilities: [container:read, container:control]
    connection: { socket: ${docker.socket} }
`,
        policy: ALLOW_ALL_POLICY.replace(
          "admin: { per_minute: 6000 }",
          "admin: { per_minute: 6000 }\n  control: { per_minute: 6000 }",
        ),
        flags: ["--operations", ops],
      });
      const client = await connectHttp(gateway);
      try {
        await t.step("tools/list shows them like built-ins, for docker targets", async () => {
          const { tools } = await client.listTools();
          const bounce = tools.find((tool) => tool.name === "app_bounce");
          assert.ok(bounce, tools.map((tool) => tool.name).join(", "));
          assert.equal(bounce.annotations?.readOnlyHint, false);
          const meta = bounce._meta as Record<string, unknown>;
          assert.equal(meta["tailops/capability"], "container:control");
        });

        await t.step(
          "dry run shows the exact engine requests and the redacted inspect check",
          async () => {
            const before = await startedAt(docker, "app-web");
            const dry = await call(client, "app_bounce", {
              target: "engine",
              name: "app-web",
              dry_run: true,
            });
            const entry = dry.results[0];
            assert.equal(entry.status, "planned", dry.text);
            const plan = entry.plan as {
              steps: { request: string; requires_container?: string }[];
              check: unknown;
            };
            assert.deepEqual(plan.steps.map((s) => s.request), [
              "POST /containers/app-web/restart?t=1",
              "GET /containers/app-web/json",
            ]);
            assert.equal(plan.steps[0].requires_container, "app-web");
            const shown = JSON.stringify(plan.check);
            assert.match(shown, /DB_PASSWORD=\[REDACTED\]/);
            assert.ok(!JSON.stringify(dry).includes(DB_SECRET));
            assert.equal(await startedAt(docker, "app-web"), before, "dry run restarts nothing");
          },
        );

        await t.step("a call restarts the container and returns its redacted state", async () => {
          const before = await startedAt(docker, "app-web");
          const called = await call(client, "app_bounce", { target: "engine", name: "app-web" });
          const entry = called.results[0];
          assert.equal(entry.status, "ok", called.text);
          const data = entry.data as {
            steps: { request: string; status: number; changed: boolean | null }[];
            result: { state: { running: boolean }; config: { env: string[] } };
          };
          assert.equal(data.steps[0].request, "POST /containers/app-web/restart");
          assert.equal(data.steps[0].changed, true);
          assert.equal(data.result.state.running, true);
          assert.ok(data.result.config.env.includes("DB_PASSWORD=[REDACTED]"));
          assert.ok(!JSON.stringify(called).includes(DB_SECRET));
          assert.notEqual(await startedAt(docker, "app-web"), before);
        });

        await t.step(
          "a signal from the parameter's allowlist is sent; others are refused before the gate",
          async () => {
            const sent = await call(client, "app_signal", {
              target: "engine",
              name: "app-web",
              sig: "SIGUSR1",
            });
            assert.equal(sent.results[0]?.status, "ok", sent.text);
            const refused = await call(client, "app_signal", {
              target: "engine",
              name: "app-web",
              sig: "SIGKILL",
            });
            assert.equal(refused.isError, true);
            assert.match(refused.text, /sig/);
          },
        );

        await t.step(
          "text that would leave the path segment never reaches the engine",
          async () => {
            const before = {
              web: await startedAt(docker, "app-web"),
              bystander: await startedAt(docker, "bystander"),
            };
            for (
              const svc of [
                "x/../../bystander",
                "../bystander",
                "web/restart?t=0",
                "web#frag",
                "web%2F..%2Fbystander",
                "web&signal=SIGKILL",
              ]
            ) {
              const called = await call(client, "app_prefixed", { target: "engine", svc });
              const entry = called.results[0];
              assert.equal(entry?.status, "failed", `${svc}: ${called.text}`);
              assert.equal(entry.error?.code, "invalid_arguments", `${svc}: ${called.text}`);
            }
            assert.equal(await startedAt(docker, "app-web"), before.web);
            assert.equal(await startedAt(docker, "bystander"), before.bystander);
            const ok = await call(client, "app_prefixed", { target: "engine", svc: "web" });
            assert.equal(ok.results[0]?.status, "ok", ok.text);
          },
        );

        await t.step(
          "a container that does not exist is not_found and nothing is sent",
          async () => {
            const called = await call(client, "app_bounce", { target: "engine", name: "nosuch" });
            assert.equal(called.results[0]?.error?.code, "not_found", called.text);
            assert.match(
              called.results[0].error?.message ?? "",
              /^Step 1 of 2 \(container_restart nosuch\)/,
            );
          },
        );
      } finally {
        await client.close();
      }
      await gateway.stop();
      const records = await readAudit(gateway.auditFile);
      const bounces = records.filter((r) => r.tool === "app_bounce");
      assert.ok(bounces.length >= 4, `audited: ${bounces.length}`);
      assert.ok(!(await Deno.readTextFile(gateway.auditFile)).includes(DB_SECRET));
    } finally {
      await docker.close();
      await Deno.remove(ops, { recursive: true });
    }
  },
});

Deno.test("check-config refuses exec, mixed step kinds and unmarked mutations in docker operation files", async () => {
  const base = OPS["app_signal.yaml"];
  const ops = await tempDirWith({
    "exec.yaml": base.replace("name: app_signal", "name: exec_in")
      .replace("engine: container_kill", "engine: container_exec"),
    "mixed.yaml": base.replace("name: app_signal", "name: mixed")
      .replace("target_types: [docker]", "target_types: [docker, ssh]"),
    "host.yaml": base.replace("name: app_signal", "name: host_engine")
      .replace("target_types: [docker]", "target_types: [ssh]")
      .replace("capability: container:control", "capability: system:control"),
    "readonly.yaml": base.replace("name: app_signal", "name: readonly")
      .replace("mutates: true", "mutates: false"),
    "badsig.yaml": base.replace("name: app_signal", "name: badsig")
      .replace('signal: "{{sig}}"', "signal: SIGSTOP"),
  });
  try {
    const run = await runCli(["check-config", "--operations", ops]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.ownStderr.join("\n");
    for (
      const pattern of [
        new RegExp(`${ops}/exec\\.yaml:12:13: Invalid engine request: .*exec is not offered`),
        new RegExp(`${ops}/mixed\\.yaml:5:\\d+: Invalid target_types: docker operations`),
        new RegExp(`${ops}/host\\.yaml:12:\\d+: Invalid step: engine requests \\("engine"\\) need`),
        new RegExp(
          `${ops}/readonly\\.yaml:12:13: Invalid engine request container_kill: .*mutates: true`,
        ),
        new RegExp(`${ops}/badsig\\.yaml:14:13: Invalid signal "SIGSTOP"`),
      ]
    ) {
      assert.match(lines, pattern);
    }
  } finally {
    await Deno.remove(ops, { recursive: true });
  }
});
