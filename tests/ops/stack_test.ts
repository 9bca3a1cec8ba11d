import assert from "node:assert/strict";
import type { z } from "zod";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { composePull, composeUp, NO_COMPOSE } from "../../src/ops/compose.ts";
import { targetSchema } from "../../src/config/targets_schema.ts";
import type { Operation } from "../../src/ops/operation.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { healthOf, stackControl, stackList, stackStatus } from "../../src/ops/stack.ts";
import { callOperation, dockerHost, dockerRegistry } from "../exec/_docker_fixture.ts";
import { cmd, exec, localTarget, sshTarget } from "./_host_helpers.ts";

Deno.test("healthOf() reads the health from the status text", () => {
  assert.equal(healthOf("Up 3 minutes (healthy)"), "healthy");
  assert.equal(healthOf("Up 3 seconds (health: starting)"), "starting");
  assert.equal(healthOf("Up 1 hour (unhealthy)"), "unhealthy");
  assert.equal(healthOf("Exited (0) 2 minutes ago"), null);
});

Deno.test("stack_control plans one request per project container", () => {
  const target = targetSchema.parse({
    id: "engine",
    type: "docker",
    capabilities: ["stack:control"],
    constraints: { timeout_ms: 1000, output_cap_bytes: 2048 },
  });
  const args = stackControl.input.parse({ project: "shop", action: "restart", timeout_s: 5 });
  assert.deepEqual(stackControl.plan(args, target), {
    kind: "docker",
    timeoutMs: 1000,
    outputCapBytes: 2048,
    method: "POST",
    path: "/containers/{id}/restart",
    query: { t: "5" },
    response: "none",
    forEach: { filters: { label: ["com.docker.compose.project=shop"] } },
  });
  assert.ok(!stackControl.input.safeParse({ project: "Shop!", action: "stop" }).success);
});

Deno.test("compose_up plans docker compose (when its probe succeeds), else docker-compose, argv under the target's roots", () => {
  const target = localTarget(["/srv"]);
  const args = composeUp.input.parse({ project_dir: "/srv/shop", services: ["web"] });
  const plan = composeUp.plan(args, target);
  assert.equal(plan.kind, "exec");
  assert.equal(plan.kind === "exec" && plan.mode, "first_available");
  const rest = [
    "--ansi",
    "never",
    "--project-directory",
    "/srv/shop",
    "up",
    "--detach",
    "--",
    "web",
  ];
  assert.deepEqual(plan.kind === "exec" && plan.commands, [
    ["docker", "compose", ...rest],
    ["docker-compose", ...rest],
  ]);
  assert.deepEqual(plan.kind === "exec" && plan.probes, [["docker", "compose", "version"], null]);
  const pull = composePull.plan(
    composePull.input.parse({ project_dir: "/srv/shop", file: "prod.yaml" }),
    sshTarget("none", ["/srv"]),
  );
  assert.deepEqual(pull.kind === "exec" && pull.commands[0], [
    "docker",
    "compose",
    "--ansi",
    "never",
    "--project-directory",
    "/srv/shop",
    "--file",
    "/srv/shop/prod.yaml",
    "pull",
    "--quiet",
  ]);
  assert.throws(
    () => composeUp.plan(composeUp.input.parse({ project_dir: "/etc" }), target),
    OperationError,
  );
  assert.ok(!composeUp.input.safeParse({ project_dir: "/srv/../etc" }).success);
  assert.ok(
    !composeUp.input.safeParse({ project_dir: "/srv/shop", services: ["--build"] }).success,
  );
  assert.ok(!composeUp.input.safeParse({ project_dir: "/srv/shop", file: "../x.yaml" }).success);
});

Deno.test("compose_up reports a docker CLI without the compose plugin in one sentence", () => {
  const args = composeUp.input.parse({ project_dir: "/srv/shop" });
  for (
    const [code, stderr] of [
      [1, "docker: 'compose' is not a docker command.\n"],
      [125, "unknown flag: --ansi\n\nUsage:  docker [OPTIONS] COMMAND [ARG...]\n"],
    ] as const
  ) {
    const result = exec(cmd(["docker", "compose"], "", { exitCode: code, stderr }));
    assert.throws(
      () => composeUp.parse(result, args),
      (e: OperationError) => e.code === "program_missing" && e.message === NO_COMPOSE,
    );
  }
  const v1 = exec(cmd(["docker-compose", "--ansi"], "Creating shop_web_1 ... done\n"));
  assert.equal(composeUp.parse(v1, args).compose, "docker-compose");
});

Deno.test("stack operations against labelled containers on a real engine", async (t) => {
  const testbed = await DockerdTestbed.start();
  try {
    const registry = await dockerRegistry([{ id: "engine", socket: testbed.socket }]);
    const host = dockerHost(registry);
    const target = registry.get("engine")!;
    const call = <I extends z.ZodObject, O extends z.ZodType>(
      op: Operation<I, O>,
      args: z.input<I>,
    ) => callOperation(host, target, { op, args });
    const compose = (project: string, service: string) => ({
      "com.docker.compose.project": project,
      "com.docker.compose.service": service,
      "com.docker.compose.project.working_dir": `/srv/${project}`,
    });
    try {
      await testbed.runContainer("shop-web-1", { labels: compose("shop", "web") });
      await testbed.runContainer("shop-db-1", { labels: compose("shop", "db") });
      await testbed.runContainer("blog-app-1", { labels: compose("blog", "app") });
      await testbed.runContainer("loose", {});

      await t.step("stack_list groups containers by compose project", async () => {
        const out = await call(stackList, {});
        assert.ok(out.ok);
        assert.deepEqual(out.output.stacks, [
          {
            project: "blog",
            services: ["app"],
            containers: 1,
            running: 1,
            working_dir: "/srv/blog",
          },
          {
            project: "shop",
            services: ["db", "web"],
            containers: 2,
            running: 2,
            working_dir: "/srv/shop",
          },
        ]);
      });

      await t.step("stack_status lists services with states", async () => {
        const out = await call(stackStatus, { project: "shop" });
        assert.ok(out.ok);
        assert.equal(out.output.healthy, true);
        assert.deepEqual(
          out.output.services.map((s) => [s.service, s.containers[0].name, s.containers[0].state]),
          [
            ["db", "shop-db-1", "running"],
            ["web", "shop-web-1", "running"],
          ],
        );
      });

      await t.step("stack_control stops and starts only the project's containers", async () => {
        const stop = await call(stackControl, { project: "shop", action: "stop", timeout_s: 0 });
        assert.ok(stop.ok, JSON.stringify(stop));
        assert.deepEqual(stop.output.containers.map((c) => [c.name, c.changed]).sort(), [[
          "shop-db-1",
          true,
        ], ["shop-web-1", true]]);
        const status = await call(stackStatus, { project: "shop" });
        assert.ok(status.ok);
        assert.equal(status.output.healthy, false);
        assert.equal(
          await testbed.docker("inspect", "-f", "{{.State.Running}}", "blog-app-1"),
          "true",
        );
        assert.equal(await testbed.docker("inspect", "-f", "{{.State.Running}}", "loose"), "true");
        const start = await call(stackControl, { project: "shop", action: "start" });
        assert.ok(start.ok);
        assert.ok(start.output.containers.every((c) => c.changed && c.error === null));
      });

      await t.step("a project that does not exist is not_found and changes nothing", async () => {
        const status = await call(stackStatus, { project: "ghost" });
        assert.ok(!status.ok);
        assert.equal(status.code, "not_found");
        const control = await call(stackControl, { project: "ghost", action: "restart" });
        assert.ok(!control.ok);
        assert.equal(control.code, "not_found");
        assert.match(control.message, /nothing was changed/);
      });
    } finally {
      host.close();
    }
  } finally {
    await testbed.close();
  }
});
