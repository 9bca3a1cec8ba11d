import assert from "node:assert/strict";
import {
  decidePulls,
  imagesToInspect,
  type PullCandidate,
  pullPlanFrom,
  repositoryOf,
} from "../../src/exec/image_pull.ts";
import { parseTargets } from "../../src/config/load.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_KIND } from "../../src/exec/local_kind.ts";
import type { CommandResult, ExecPlan, SequencePlan, SequenceResult } from "../../src/exec/plan.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";

const service = (
  name: string,
  image: string | null,
  more: Partial<PullCandidate> = {},
): PullCandidate => ({ name, image, build: false, pullPolicy: null, ...more });

/** What `docker image inspect` answers for an image: present with these digests, or absent. */
function inspected(image: string, digests: string[] | "absent"): CommandResult {
  const absent = digests === "absent";
  return {
    argv: ["docker", "image", "inspect", "--", image],
    exitCode: absent ? 1 : 0,
    signal: null,
    stdout: absent ? "\n" : `${JSON.stringify({ id: "sha256:1", repo_digests: digests })}\n`,
    stderr: absent ? `Error: No such image: ${image}\n` : "",
    truncated: false,
    bytes: 0,
  };
}

const ok = (...commands: CommandResult[]) =>
  ({ ok: true, result: { kind: "exec", commands } }) as const;

Deno.test("decidePulls() pulls what the engine lacks or got from a registry, never a local-only image", () => {
  const candidates = [
    service("registry", "prom/node-exporter:v1"),
    service("always", "prom/node-exporter:v1", { pullPolicy: "always" }),
    service("local", "shop-api:dev"),
    service("local-always", "shop-api:dev", { pullPolicy: "always" }),
    service("absent", "redis:7"),
    service("absent-missing", "redis:7", { pullPolicy: "missing" }),
    service("present-missing", "prom/node-exporter:v1", { pullPolicy: "if_not_present" }),
    service("daily", "prom/node-exporter:v1", { pullPolicy: "daily" }),
    service("pinned", "prom/node-exporter@sha256:" + "a".repeat(64)),
    service("never", "redis:7", { pullPolicy: "never" }),
    service("built", "shop-web:dev", { build: true }),
    service("build-policy", "shop-web:dev", { pullPolicy: "build" }),
    service("only-build", null, { build: true }),
    service("variable", "shop-api:${TAG:-dev}"),
  ];
  const images = imagesToInspect(candidates);
  // Each image once, in the services' order; statically decided services are not asked about.
  assert.deepEqual(images, [
    "prom/node-exporter:v1",
    "shop-api:dev",
    "redis:7",
    "prom/node-exporter@sha256:" + "a".repeat(64),
  ]);
  const decisions = decidePulls(
    candidates,
    ok(
      inspected(images[0], ["prom/node-exporter@sha256:" + "b".repeat(64)]),
      inspected(images[1], []),
      inspected(images[2], "absent"),
      inspected(images[3], ["prom/node-exporter@sha256:" + "a".repeat(64)]),
    ),
  );
  assert.ok(Array.isArray(decisions));
  assert.deepEqual(decisions.map((d) => [d.service, d.engine, d.pull]), [
    ["registry", "from_registry", true],
    ["always", "from_registry", true],
    ["local", "local_only", false],
    ["local-always", "local_only", false],
    ["absent", "absent", true],
    ["absent-missing", "absent", true],
    ["present-missing", "from_registry", false],
    ["daily", "from_registry", false],
    ["pinned", "from_registry", false],
    ["never", null, false],
    ["built", null, false],
    ["build-policy", null, false],
    ["only-build", null, false],
    ["variable", null, false],
  ]);
  assert.match(decisions[2].reason, /only on this engine .*never pulled/);
  assert.match(decisions[13].reason, /compose variables/);
});

Deno.test("pullPlanFrom() appends the services to pull after --, or skips the step when none is", () => {
  const plan: ExecPlan = {
    kind: "exec",
    commands: [["docker", "compose", "pull", "--quiet"], ["docker-compose", "pull", "--quiet"]],
    mode: "first_available",
    sudo: false,
    timeoutMs: 1000,
    outputCapBytes: 1000,
  };
  const candidates = [service("a", "x:1"), service("b", "y:1"), service("c", "x:1")];
  const filled = pullPlanFrom(
    plan,
    candidates,
    ok(inspected("x:1", "absent"), inspected("y:1", [])),
  );
  assert.deepEqual((filled as ExecPlan).commands, [
    ["docker", "compose", "pull", "--quiet", "--", "a", "c"],
    ["docker-compose", "pull", "--quiet", "--", "a", "c"],
  ]);
  assert.equal(
    pullPlanFrom(plan, candidates, ok(inspected("x:1", []), inspected("y:1", []))),
    null,
  );
});

Deno.test("an engine that cannot be asked fails the pull, except a host without the docker CLI", () => {
  const candidates = [service("a", "x:1")];
  const down: CommandResult = {
    ...inspected("x:1", "absent"),
    stderr: "Cannot connect to the Docker daemon at unix:///run/docker.sock\n",
  };
  const failed = decidePulls(candidates, ok(down));
  assert.deepEqual(failed, {
    code: "bad_response",
    message:
      'Cannot tell whether to pull "x:1": Cannot connect to the Docker daemon at unix:///run/docker.sock',
  });
  // A reference the engine calls invalid is not taken for an absent image.
  const invalid = {
    ...down,
    stderr: "Error response from daemon: no such image: x:1: invalid reference format\n",
  };
  assert.equal("code" in (decidePulls(candidates, ok(invalid)) as object), true);
  const noDocker = decidePulls(candidates, {
    ok: false,
    error: { code: "program_missing", message: "docker is not installed on this host" },
  });
  assert.ok(Array.isArray(noDocker));
  assert.deepEqual(noDocker.map((d) => [d.service, d.pull]), [["a", false]]);
  assert.match(noDocker[0].reason, /docker CLI is not on this host/);
  const timeout = { code: "timeout" as const, message: "The work ran past its timeout" };
  assert.deepEqual(decidePulls(candidates, { ok: false, error: timeout }), timeout);
  // Nothing to ask: no inspection needed.
  assert.deepEqual(decidePulls([service("n", "x:1", { pullPolicy: "never" })], undefined), [
    { service: "n", image: "x:1", engine: null, pull: false, reason: "pull_policy never" },
  ]);
});

Deno.test("repositoryOf() names a reference's repository in full, as repo digests name it in short", () => {
  for (
    const [reference, repository] of [
      ["busybox", "docker.io/library/busybox"],
      ["busybox:1.36", "docker.io/library/busybox"],
      ["busybox@sha256:" + "a".repeat(64), "docker.io/library/busybox"],
      ["docker.io/library/busybox:1.36", "docker.io/library/busybox"],
      ["index.docker.io/prom/node-exporter:v1", "docker.io/prom/node-exporter"],
      ["prom/node-exporter:v1", "docker.io/prom/node-exporter"],
      ["127.0.0.1:5000/tailops/app:1", "127.0.0.1:5000/tailops/app"],
      ["localhost/app", "localhost/app"],
      ["ghcr.io/org/app@sha256:" + "b".repeat(64), "ghcr.io/org/app"],
    ]
  ) {
    assert.equal(repositoryOf(reference), repository, reference);
  }
});

Deno.test("decidePulls() counts a repo digest only for the name's own repository", () => {
  // One image id, pulled as 127.0.0.1:5000/tailops/app:1 and tagged busybox:1.36 locally.
  const digest = "127.0.0.1:5000/tailops/app@sha256:" + "c".repeat(64);
  const candidates = [
    service("local", "busybox:1.36"),
    service("pulled", "127.0.0.1:5000/tailops/app:1"),
  ];
  const decisions = decidePulls(
    candidates,
    ok(inspected("busybox:1.36", [digest]), inspected("127.0.0.1:5000/tailops/app:1", [digest])),
  );
  assert.ok(Array.isArray(decisions));
  assert.deepEqual(decisions.map((d) => [d.service, d.engine, d.pull]), [
    ["local", "local_only", false],
    ["pulled", "from_registry", true],
  ]);
});

Deno.test("hostile image references never reach the engine's argv: only plain references are inspected", () => {
  const hostile = [
    "--help",
    "-q",
    "busybox; rm -rf /",
    "busybox\n--all",
    "$(id)",
    "${IMAGE:-busybox}",
    "busybox:1.36 --format x",
    "",
    "a".repeat(300),
  ];
  const candidates = hostile.map((image, i) => service(`s${i}`, image));
  assert.deepEqual(imagesToInspect(candidates), []);
  const decisions = decidePulls(candidates, undefined);
  assert.ok(Array.isArray(decisions));
  assert.ok(decisions.every((d) => !d.pull && /not a plain image reference/.test(d.reason)));
  // A plain reference is passed after "--", as one argv element.
  assert.deepEqual(imagesToInspect([service("ok", "127.0.0.1:5000/a/b:1")]), [
    "127.0.0.1:5000/a/b:1",
  ]);
});

Deno.test("the executor host fills a pull step from the inspection step, skips it, or stops the sequence", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-pull-" });
  const registry = await parseTargets(
    "version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [system:read]\n",
    "test.yaml",
  );
  const target = registry.get("local")!;
  const host = new ExecutorHost(registry, {
    kinds: [LOCAL_KIND as WorkerKind],
    context: { programs: ["cat", "echo"] },
  });
  const run = (argv: string[]): ExecPlan => ({
    kind: "exec",
    commands: [argv],
    mode: "all",
    sudo: false,
    timeoutMs: 10_000,
    outputCapBytes: 65_536,
  });
  /** inspect (cat of a canned answer, or `inspector`) → pull (echo) → up (echo). */
  const sequence = (inspector: string[]): SequencePlan => ({
    kind: "sequence",
    timeoutMs: 30_000,
    outputCapBytes: 65_536,
    steps: [
      { plan: run(inspector), failureReadLater: true },
      {
        plan: run(["echo", "pull"]),
        pullFrom: { step: 0, candidates: [service("web", "127.0.0.1:5000/web:1")] },
      },
      { plan: run(["echo", "up"]) },
    ],
  });
  const stdoutOf = (step: SequenceResult["steps"][number] | undefined) =>
    step && "ok" in step && step.ok && step.result.kind === "exec"
      ? step.result.commands[0].stdout
      : step;
  try {
    await t.step("a registry image is pulled: its service is appended after --", async () => {
      await Deno.writeTextFile(
        `${dir}/pulled.json`,
        JSON.stringify({ id: "x", repo_digests: [`127.0.0.1:5000/web@sha256:${"d".repeat(64)}`] }),
      );
      const outcome = await host.run(target, sequence(["cat", `${dir}/pulled.json`]));
      assert.ok(outcome.ok);
      const steps = (outcome.result as SequenceResult).steps;
      assert.equal(stdoutOf(steps[1]), "pull -- web\n");
      assert.equal(stdoutOf(steps[2]), "up\n");
    });
    await t.step("a local-only image: the pull step is skipped, up runs", async () => {
      await Deno.writeTextFile(`${dir}/local.json`, '{"id":"x","repo_digests":[]}');
      const outcome = await host.run(target, sequence(["cat", `${dir}/local.json`]));
      const steps = (outcome.ok ? outcome.result as SequenceResult : { steps: [] }).steps;
      assert.deepEqual(steps[1], { skipped: true });
      assert.equal(stdoutOf(steps[2]), "up\n");
    });
    await t.step("no docker CLI: the inspection fails, the pull is skipped, up runs", async () => {
      const outcome = await host.run(target, sequence(["docker", "image", "inspect"]));
      const steps = (outcome.ok ? outcome.result as SequenceResult : { steps: [] }).steps;
      assert.equal((steps[0] as { error?: { code: string } }).error?.code, "program_missing");
      assert.deepEqual(steps[1], { skipped: true });
      assert.equal(stdoutOf(steps[2]), "up\n");
    });
    await t.step(
      "an engine that cannot be asked fails the pull step and nothing after runs",
      async () => {
        const outcome = await host.run(target, sequence(["cat", `${dir}/no-such-answer`]));
        const steps = (outcome.ok ? outcome.result as SequenceResult : { steps: [] }).steps;
        assert.equal(steps.length, 2, JSON.stringify(steps));
        const failed = steps[1] as { ok: false; error: { code: string; message: string } };
        assert.equal(failed.error.code, "bad_response");
        assert.match(
          failed.error.message,
          /^Cannot tell whether to pull "127\.0\.0\.1:5000\/web:1": \S*cat: .*No such file/,
        );
      },
    );
  } finally {
    host.close();
    await Deno.remove(dir, { recursive: true });
  }
});
