import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import {
  containerInspect,
  containerList,
  containerLogs,
  redactEnv,
} from "../../src/ops/container.ts";
import { containerControl, containerRemove } from "../../src/ops/container_control.ts";
import { containerStats } from "../../src/ops/container_stats.ts";
import { DOCKER_OPERATIONS } from "../../src/ops/docker_ops.ts";
import { engineDiskUsage, engineInfo, imageList } from "../../src/ops/engine.ts";
import { imagePull, splitImageRef, systemPrune } from "../../src/ops/engine_admin.ts";
import type { z } from "zod";
import type { Operation } from "../../src/ops/operation.ts";
import { callOperation, dockerHost, dockerRegistry } from "../exec/_docker_fixture.ts";

Deno.test("parameter schemas refuse anything outside the allowlists", () => {
  for (const container of ["-rm", "a/b", "x y", "../etc", "a".repeat(129), "web;rm"]) {
    assert.ok(!containerInspect.input.safeParse({ container }).success, container);
  }
  assert.ok(containerInspect.input.safeParse({ container: "web-1.app_2" }).success);
  assert.ok(containerInspect.input.safeParse({ container: "0123456789ab" }).success);
  for (const labels of [["=x"], ["a=b\nc"], ["a=b;c"], ["a=$(x)"]]) {
    assert.ok(!containerList.input.safeParse({ labels }).success, labels[0]);
  }
  assert.ok(containerList.input.safeParse({ labels: ["com.docker.compose.project=web"] }).success);
  for (const image of ["Nginx", "nginx:", "-x", "a b", "nginx@sha256:12"]) {
    assert.ok(!imagePull.input.safeParse({ image }).success, image);
  }
  assert.ok(imagePull.input.safeParse({ image: "registry.local:5000/org/app:v1.2" }).success);
  assert.ok(!containerList.input.safeParse({ all: true, extra: 1 }).success);
});

Deno.test("the docker catalog is frozen and names each operation once", () => {
  assert.ok(Object.isFrozen(DOCKER_OPERATIONS));
  const names = DOCKER_OPERATIONS.map((op) => op.name);
  assert.equal(new Set(names).size, names.length);
});

Deno.test("splitImageRef() defaults the tag to latest and keeps digests", () => {
  assert.deepEqual(splitImageRef("nginx"), { fromImage: "nginx", tag: "latest" });
  assert.deepEqual(splitImageRef("reg:5000/a/b:v1"), { fromImage: "reg:5000/a/b", tag: "v1" });
  assert.deepEqual(splitImageRef("reg:5000/a/b"), { fromImage: "reg:5000/a/b", tag: "latest" });
  assert.deepEqual(splitImageRef(`a@sha256:${"0".repeat(64)}`), {
    fromImage: "a",
    tag: `sha256:${"0".repeat(64)}`,
  });
});

Deno.test("redactEnv() hides values of secret-looking keys", () => {
  assert.deepEqual(
    redactEnv(["DB_PASSWORD=hunter2", "API_KEY=k", "MODE=prod", "AUTH=Bearer abc.def"]),
    [
      "DB_PASSWORD=[REDACTED]",
      "API_KEY=[REDACTED]",
      "MODE=prod",
      "AUTH=[REDACTED]",
    ],
  );
});

Deno.test("container operations against a real engine", async (t) => {
  const testbed = await DockerdTestbed.start();
  try {
    const registry = await dockerRegistry([{
      id: "engine",
      socket: testbed.socket,
      timeoutMs: 20_000,
    }]);
    const host = dockerHost(registry);
    const target = registry.get("engine")!;
    const call = <I extends z.ZodObject, O extends z.ZodType>(
      op: Operation<I, O>,
      args: z.input<I>,
    ) => callOperation(host, target, { op, args });
    try {
      await testbed.docker(
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "web",
        "--label",
        "tier=front",
        "-e",
        "DB_PASSWORD=hunter2",
        "-e",
        "MODE=prod",
        "tailops-test:latest",
        "sh",
        "-c",
        "echo ready; echo warn >&2; sleep 600",
      );
      await testbed.docker(
        "create",
        "--network",
        "none",
        "--name",
        "idle",
        "tailops-test:latest",
        "true",
      );

      await t.step("container_list filters running containers and labels", async () => {
        const running = await call(containerList, {});
        assert.ok(running.ok);
        assert.deepEqual(running.output.containers.map((c) => c.name), ["web"]);
        const all = await call(containerList, { all: true });
        assert.ok(all.ok);
        assert.deepEqual(all.output.containers.map((c) => c.name).sort(), ["idle", "web"]);
        const labelled = await call(containerList, { all: true, labels: ["tier=front"] });
        assert.ok(labelled.ok);
        assert.deepEqual(labelled.output.containers.map((c) => c.name), ["web"]);
      });

      await t.step("container_inspect redacts secret env values", async () => {
        const out = await call(containerInspect, { container: "web" });
        assert.ok(out.ok);
        assert.equal(out.output.state.status, "running");
        assert.ok(out.output.config.env.includes("DB_PASSWORD=[REDACTED]"));
        assert.ok(out.output.config.env.includes("MODE=prod"));
        assert.ok(!JSON.stringify(out.output).includes("hunter2"));
      });

      await t.step("container_inspect of a missing container is a clear not_found", async () => {
        const out = await call(containerInspect, { container: "ghost" });
        assert.deepEqual(out, {
          ok: false,
          code: "not_found",
          message: 'No container "ghost" exists on target "engine"',
        });
      });

      await t.step("container_logs separates stdout and stderr", async () => {
        const out = await call(containerLogs, { container: "web", tail: 10 });
        assert.deepEqual(out, {
          ok: true,
          output: { stdout: "ready\n", stderr: "warn\n", truncated: false },
        });
      });

      await t.step("container_stats computes a snapshot", async () => {
        const out = await call(containerStats, { container: "web" });
        assert.ok(out.ok, JSON.stringify(out));
        assert.ok(out.output.memory_usage_bytes >= 0);
        assert.ok(out.output.memory_limit_bytes > 0);
        assert.ok(out.output.cpu_percent >= 0);
      });

      await t.step("image_list, engine_info and engine_disk_usage read the engine", async () => {
        const images = await call(imageList, {});
        assert.ok(images.ok);
        assert.ok(images.output.images.some((i) => i.tags.includes("tailops-test:latest")));
        const info = await call(engineInfo, {});
        assert.ok(info.ok);
        assert.equal(info.output.api_version, "1.41");
        assert.equal(info.output.containers.total, 2);
        const df = await call(engineDiskUsage, {});
        assert.ok(df.ok);
        assert.equal(df.output.images.count, 1);
        assert.equal(df.output.containers.count, 2);
      });

      await t.step("container_control pauses, unpauses, stops and starts", async () => {
        for (const action of ["pause", "unpause", "restart"] as const) {
          const out = await call(containerControl, { container: "web", action, timeout_s: 0 });
          assert.ok(out.ok && out.output.changed, `${action}: ${JSON.stringify(out)}`);
        }
        const again = await call(containerControl, { container: "web", action: "start" });
        assert.ok(again.ok);
        assert.equal(again.output.changed, false);
        assert.equal(again.output.message, 'Container "web" was already running');
        const stop = await call(containerControl, {
          container: "web",
          action: "stop",
          timeout_s: 0,
        });
        assert.ok(stop.ok && stop.output.changed);
        const pause = await call(containerControl, { container: "web", action: "pause" });
        assert.ok(!pause.ok);
        assert.equal(pause.code, "conflict");
        const start = await call(containerControl, { container: "web", action: "start" });
        assert.ok(start.ok && start.output.changed);
      });

      await t.step("container_control on a missing container changes nothing", async () => {
        const out = await call(containerControl, { container: "ghost", action: "stop" });
        assert.ok(!out.ok);
        assert.equal(out.code, "not_found");
      });

      await t.step(
        "container_remove refuses a running container and removes a stopped one",
        async () => {
          const running = await call(containerRemove, { container: "web" });
          assert.ok(!running.ok);
          assert.equal(running.code, "conflict");
          assert.match(running.message, /^Cannot remove container "web": /);
          assert.equal(await testbed.docker("inspect", "-f", "{{.State.Running}}", "web"), "true");
          const idle = await call(containerRemove, { container: "idle" });
          assert.deepEqual(idle, { ok: true, output: { container: "idle", removed: true } });
        },
      );

      await t.step("image_pull without a reachable registry fails clearly", async () => {
        const started = performance.now();
        const out = await call(imagePull, { image: "registry.invalid:5000/nothing:v1" });
        assert.ok(!out.ok);
        assert.equal(out.code, "registry_unreachable");
        assert.equal(
          out.message,
          'Cannot pull image "registry.invalid:5000/nothing:v1": the engine could not reach the registry',
        );
        assert.ok(performance.now() - started < 15_000);
      });

      await t.step("system_prune removes stopped containers", async () => {
        await testbed.docker(
          "create",
          "--network",
          "none",
          "--name",
          "stale",
          "tailops-test:latest",
          "true",
        );
        const out = await call(systemPrune, { scope: "containers" });
        assert.ok(out.ok);
        assert.equal(out.output.deleted.length, 1);
        assert.equal(await testbed.docker("ps", "-aq", "--filter", "name=stale"), "");
      });
    } finally {
      host.close();
    }
  } finally {
    await testbed.close();
  }
});
