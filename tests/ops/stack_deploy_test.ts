import assert from "node:assert/strict";
import type { Stack } from "../../src/config/stacks_load.ts";
import { targetSchema } from "../../src/config/targets_schema.ts";
import type { ExecPlan, SequencePlan, SequenceResult } from "../../src/exec/plan.ts";
import { NO_COMPOSE } from "../../src/ops/compose.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { stackDeploy } from "../../src/ops/stack_deploy.ts";
import { IMAGE_INSPECT_FORMAT } from "../../src/exec/image_pull.ts";
import { cmd, exec } from "./_host_helpers.ts";

const STACK: Stack = {
  name: "shop",
  files: [{ name: "compose.yaml", content: "services: {}\n" }],
  services: [
    { name: "api", image: "registry.example/api:1", build: false, pullPolicy: null },
    { name: "web", image: "shop-web:dev", build: true, pullPolicy: null },
    { name: "worker", image: "shop-worker:local", build: false, pullPolicy: "never" },
  ],
  warnings: [],
};

const target = targetSchema.parse({
  id: "web-1",
  type: "ssh",
  capabilities: ["file:write"],
  connection: {
    host: "127.0.0.1",
    user: "ops",
    agent: "/run/agent.sock",
    host_key: `SHA256:${"a".repeat(43)}`,
  },
  files: { write_roots: ["/srv"] },
  sudo: ["stack_deploy"],
});

const op = stackDeploy([STACK]);
const plan = (args: Record<string, unknown>) =>
  op.plan(op.input.parse({ stack: "shop", ...args }), target) as SequencePlan;

Deno.test("stack_deploy asks the engine about the images it may pull, pulls what it decides, then up, then waits", () => {
  const { steps } = plan({});
  assert.deepEqual(steps.map((s) => s.plan.kind), ["fs_write", "exec", "exec", "exec", "exec"]);
  const [, inspect, pull, up, wait] = steps;
  // Only the image without build and without pull_policy never is asked about, in one exec.
  const inspectPlan = inspect.plan as ExecPlan;
  assert.deepEqual(inspectPlan.commands, [[
    "docker",
    "image",
    "inspect",
    "--format",
    IMAGE_INSPECT_FORMAT,
    "--",
    "registry.example/api:1",
  ]]);
  assert.equal(inspectPlan.mode, "all");
  assert.equal(inspectPlan.sudo, true);
  assert.equal(inspect.onlyIfChanged && inspect.failureReadLater, true);
  // The pull step's services come from the inspection (appended by the executor host).
  const pullPlan = pull.plan as ExecPlan;
  assert.deepEqual(pullPlan.commands[0].slice(-3), ["/srv/shop", "pull", "--quiet"]);
  assert.deepEqual(pull.pullFrom, { step: 1, candidates: STACK.services });
  assert.equal(pullPlan.sudo, true);
  assert.deepEqual(pullPlan.probes, [["docker", "compose", "version"], null]);
  assert.equal(pullPlan.noneMessage, NO_COMPOSE);
  assert.deepEqual((up.plan as ExecPlan).commands[1].slice(0, 7), [
    "docker-compose",
    "--ansi",
    "never",
    "--project-name",
    "shop",
    "--project-directory",
    "/srv/shop",
  ]);
  assert.equal(pull.onlyIfChanged && up.onlyIfChanged, true);
  assert.deepEqual(wait.until, {
    services: ["api", "web", "worker"],
    everyMs: 1000,
    withinMs: 60_000,
    onlyIfChanged: true,
  });
});

Deno.test("stack_deploy for chosen services pulls none of a built image; force runs compose always", () => {
  const { steps } = plan({ services: ["web"], force: true, wait_s: 5 });
  // A built image is never asked about nor pulled: no inspection, no pull step.
  assert.deepEqual(steps.map((s) => s.plan.kind), ["fs_write", "exec", "exec"]);
  assert.deepEqual((steps[1].plan as ExecPlan).commands[0].slice(-5), [
    "up",
    "--detach",
    "--remove-orphans",
    "--",
    "web",
  ]);
  assert.equal(steps[1].onlyIfChanged, false);
  assert.deepEqual(steps[2].until?.services, ["web"]);
  assert.equal(steps[2].until?.withinMs, 5000);
  assert.throws(
    () => plan({ services: ["db"] }),
    (e: OperationError) =>
      e.code === "invalid_arguments" && /stack "shop" defines api, web, worker/.test(e.message),
  );
});

Deno.test("stack_deploy reports not_ready naming each service that did not settle", () => {
  const written = {
    kind: "fs_write" as const,
    path: "/srv/shop/compose.yaml",
    bytes: 13,
    sha256: "0".repeat(64),
    previousSha256: null,
    changed: true,
    backup: null,
  };
  const line = (service: string, state: string, status: string) =>
    JSON.stringify({ service, name: `shop_${service}_1`, state, status });
  const result: SequenceResult = {
    kind: "sequence",
    steps: [
      { ok: true, result: written },
      {
        ok: true,
        result: exec(
          cmd(["docker", "image"], '{"id":"x","repo_digests":["registry.example/api@sha256:1"]}'),
        ),
      },
      { ok: true, result: exec(cmd(["docker-compose", "pull"], "")) },
      { ok: true, result: exec(cmd(["docker-compose", "up"], "Creating shop_api_1 ... done\n")) },
      {
        ok: true,
        result: exec(cmd(
          ["docker", "ps"],
          [
            line("api", "running", "Up 9 seconds (healthy)"),
            line("web", "running", "Up 9 seconds (unhealthy)"),
          ].join("\n"),
        )),
      },
    ],
  };
  assert.throws(
    () => op.parse(result, op.input.parse({ stack: "shop", wait_s: 9 })),
    (e: OperationError) =>
      e.code === "not_ready" &&
      e.message ===
        "Not every service was running and healthy within 9 s: web: unhealthy; worker: no container",
  );
});

Deno.test("stack_deploy reports what it pulled and why, and a failed inspection stops before up", () => {
  const written = {
    kind: "fs_write" as const,
    path: "/srv/shop/compose.yaml",
    bytes: 13,
    sha256: "0".repeat(64),
    previousSha256: null,
    changed: true,
    backup: null,
  };
  const listing = JSON.stringify({ service: "api", name: "a", state: "running", status: "Up" });
  const args = op.input.parse({ stack: "shop", services: ["api"] });
  const out = op.parse({
    kind: "sequence",
    steps: [
      { ok: true, result: written },
      {
        ok: true,
        result: exec(
          cmd(["docker"], '{"id":"x","repo_digests":["registry.example/api@sha256:1"]}\n'),
        ),
      },
      { ok: true, result: exec(cmd(["docker-compose", "pull", "--", "api"], "")) },
      { ok: true, result: exec(cmd(["docker-compose", "up"], "")) },
      { ok: true, result: exec(cmd(["docker", "ps"], listing)) },
    ],
  }, args) as { pulled: string[]; pull_decisions: { service: string; reason: string }[] };
  assert.deepEqual(out.pulled, ["api"]);
  assert.deepEqual(out.pull_decisions.map((d) => [d.service, d.reason]), [
    ["api", "from a registry; pull_policy unset: updated"],
  ]);
  // The executor host turned an engine it could not ask into the pull step's failure.
  assert.throws(
    () =>
      op.parse({
        kind: "sequence",
        steps: [
          { ok: true, result: written },
          {
            ok: true,
            result: exec(cmd(["docker"], "", { exitCode: 1, stderr: "Cannot connect\n" })),
          },
          { ok: false, error: { code: "bad_response", message: "Cannot tell whether to pull" } },
        ],
      }, args),
    (e: OperationError) => e.code === "bad_response" && /Cannot tell/.test(e.message),
  );
});
