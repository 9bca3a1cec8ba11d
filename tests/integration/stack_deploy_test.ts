/**
 * stack_deploy's file side over real sshd, on hosts whose PATH has neither
 * compose nor docker: dry run (diffs, the pull decision, commands,
 * batches), a rollout in batches that stops at the first failure (compose
 * is missing: one clear sentence after the files are written), a repeat
 * that writes nothing and runs no compose, and host drift put back with a
 * backup. Compose bringing containers up for real: stack_story_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { NO_COMPOSE } from "../../src/ops/compose.ts";
import { binWithout } from "./_compose_bed.ts";

const COMPOSE = "services:\n  node-exporter:\n    image: prom/node-exporter:v1.8.2\n";
const CONFIG = "scrape_interval: 15s\n";

/**
 * Compose was looked for and is missing: one sentence. The hosts' PATH (sshd SetEnv) has neither
 * docker-compose nor docker, whatever this machine has installed.
 */
function assertComposeFailed(error: { code: string; message: string } | undefined): void {
  assert.equal(error?.code, "program_missing", JSON.stringify(error));
  assert.equal(error?.message, NO_COMPOSE);
}

interface Batch {
  batch: number;
  targets: string[];
  ok: number;
  failed: number;
  skipped: number;
}

Deno.test({
  name:
    "stack_deploy rolls a curated stack out to web servers in batches, with dry run and an idempotent repeat",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const stacks = await tempDirWith();
    await Deno.mkdir(`${stacks}/monitoring`);
    await Deno.writeTextFile(`${stacks}/monitoring/compose.yaml`, COMPOSE);
    await Deno.writeTextFile(`${stacks}/monitoring/prometheus.yml`, CONFIG);
    let fleet: Fleet | undefined;
    const web = ["web-1", "web-2", "web-3"];
    const bin = await binWithout(`${stacks}-bin`, ["docker-compose", "docker"]);
    try {
      fleet = await startFleet({
        instances: 1,
        targets: (filesDir) =>
          web.map((id) => ({
            id,
            instance: 0,
            tags: ["web"],
            capabilities: ["file:write"],
            writeRoots: [`${filesDir}/${id}`],
          })),
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_STACKS: stacks },
        sessionEnv: web.map(() => ({ PATH: bin })),
      });
      for (const id of web) {
        await Deno.mkdir(`${fleet.filesDir}/${id}`);
        await Deno.chmod(`${fleet.filesDir}/${id}`, 0o777);
      }
      const client = fleet.client;
      const dirOf = (id: string) => `${fleet!.filesDir}/${id}/monitoring`;

      await t.step("tools/list shows stack_deploy with the curated stacks", async () => {
        const { tools } = await client.listTools();
        const tool = tools.find((x) => x.name === "stack_deploy");
        assert.ok(tool, tools.map((x) => x.name).join(", "));
        assert.match(tool.description ?? "", /monitoring/);
      });

      await t.step(
        "dry run shows each file's diff and the compose command per target, in batches",
        async () => {
          const called = await call(client, "stack_deploy", {
            targets: "tag:web",
            stack: "monitoring",
            serial: 2,
            dry_run: true,
          });
          assert.deepEqual(
            called.results.map((r) => [r.target, r.status]),
            web.map((id) => [id, "planned"]),
          );
          const plan = called.results[0].plan as {
            steps: {
              kind: string;
              path?: string;
              argv?: string[][];
              only_if_a_file_changed?: boolean;
            }[];
            check: {
              files: { name: string; diff: string; would_change: boolean }[];
              would_run_compose: boolean;
              would_pull: string[];
              pull_decisions: { service: string; pull: boolean; reason: string }[];
            };
          };
          assert.deepEqual(plan.steps.map((s) => s.kind), [
            "write_file",
            "write_file",
            "exec",
            "exec",
            "exec",
            "exec",
          ]);
          assert.equal(plan.steps[0].path, `${dirOf("web-1")}/compose.yaml`);
          // The engine is asked about the image first; the pull gets the services it decides on.
          assert.deepEqual(plan.steps[2].argv![0].slice(0, 3), ["docker", "image", "inspect"]);
          assert.deepEqual(plan.steps[2].argv![0].slice(-2), ["--", "prom/node-exporter:v1.8.2"]);
          assert.equal(plan.steps[3].only_if_a_file_changed, true);
          assert.deepEqual(plan.steps[3].argv![0], [
            "docker",
            "compose",
            "--ansi",
            "never",
            "--project-name",
            "monitoring",
            "--project-directory",
            dirOf("web-1"),
            "pull",
            "--quiet",
          ]);
          assert.deepEqual(plan.steps[4].argv![1].slice(-3), [
            "up",
            "--detach",
            "--remove-orphans",
          ]);
          assert.equal(plan.check.files[0].name, "compose.yaml");
          assert.match(
            plan.check.files[0].diff,
            /^--- \/dev\/null\n\+\+\+ \/compose\.yaml\n@@ -0,0 \+1,3 @@\n\+services:/,
          );
          assert.equal(plan.check.would_run_compose, true);
          // These hosts have no docker CLI: the engine cannot be asked, nothing is pulled
          // (compose up pulls only a missing image), and the decision says so.
          assert.deepEqual(plan.check.would_pull, []);
          assert.deepEqual(plan.check.pull_decisions.map((d) => [d.service, d.pull]), [
            ["node-exporter", false],
          ]);
          assert.match(plan.check.pull_decisions[0].reason, /docker CLI is not on this host/);
          const batches = (called as unknown as { results: unknown[] }).results.map((r) =>
            (r as { batch: number }).batch
          );
          assert.deepEqual(batches, [1, 1, 2]);
          await assert.rejects(Deno.stat(dirOf("web-1")), Deno.errors.NotFound);
        },
      );

      await t.step("a rollout one target at a time stops after the first failure", async () => {
        const progress: string[] = [];
        const raw = await client.callTool(
          {
            name: "stack_deploy",
            arguments: { targets: "tag:web", stack: "monitoring", serial: 1, max_failures: 1 },
          },
          { onprogress: (p: { message?: string }) => progress.push(p.message ?? "") },
        );
        assert.deepEqual(progress, [
          "batch 1/3: web-1: failed",
          "batch 2/3: web-2: skipped",
          "batch 3/3: web-3: skipped",
        ]);
        const result = raw.structuredContent as {
          results: { target: string; status: string; error?: { code: string; message: string } }[];
          batches: Batch[];
        };
        assert.deepEqual(result.results.map((r) => r.status), ["failed", "skipped", "skipped"]);
        assertComposeFailed(result.results[0].error);
        assert.deepEqual(result.batches.map((b) => [b.batch, b.targets, b.failed, b.skipped]), [
          [1, ["web-1"], 1, 0],
          [2, ["web-2"], 0, 1],
          [3, ["web-3"], 0, 1],
        ]);
        // The files were written on web-1 before compose was tried; web-2 and web-3 untouched.
        assert.equal(await Deno.readTextFile(`${dirOf("web-1")}/compose.yaml`), COMPOSE);
        assert.equal(await Deno.readTextFile(`${dirOf("web-1")}/prometheus.yml`), CONFIG);
        await assert.rejects(Deno.stat(dirOf("web-2")), Deno.errors.NotFound);
      });

      await t.step(
        "deploying again where nothing changed writes nothing, runs no compose, and says " +
          "the containers cannot be listed without docker",
        async () => {
          const before = await Deno.stat(`${dirOf("web-1")}/compose.yaml`);
          const called = await call(client, "stack_deploy", {
            target: "web-1",
            stack: "monitoring",
          });
          const entry = called.results[0];
          assert.equal(entry.error?.code, "program_missing", JSON.stringify(entry));
          assert.match(entry.error?.message ?? "", /^Cannot list the stack's containers: .*docker/);
          const after = await Deno.stat(`${dirOf("web-1")}/compose.yaml`);
          assert.equal(after.ino, before.ino);
          await assert.rejects(
            Deno.stat(`${dirOf("web-1")}/.compose.yaml.tailops-prev`),
            Deno.errors.NotFound,
          );
        },
      );

      await t.step(
        "a file changed on the host is put back, with a backup, and compose is tried",
        async () => {
          await Deno.writeTextFile(`${dirOf("web-1")}/prometheus.yml`, "scrape_interval: 1s\n");
          const dry = await call(client, "stack_deploy", {
            target: "web-1",
            stack: "monitoring",
            dry_run: true,
          });
          const check =
            (dry.results[0].plan as { check: { files: { diff: string; would_change: boolean }[] } })
              .check;
          assert.deepEqual(check.files.map((f) => f.would_change), [false, true]);
          assert.match(check.files[1].diff, /\n-scrape_interval: 1s\n\+scrape_interval: 15s\n$/);
          const called = await call(client, "stack_deploy", {
            target: "web-1",
            stack: "monitoring",
          });
          assertComposeFailed(
            called.results[0].error as { code: string; message: string } | undefined,
          );
          assert.equal(await Deno.readTextFile(`${dirOf("web-1")}/prometheus.yml`), CONFIG);
          assert.equal(
            await Deno.readTextFile(`${dirOf("web-1")}/.prometheus.yml.tailops-prev`),
            "scrape_interval: 1s\n",
          );
        },
      );
    } finally {
      await fleet?.close();
      await Deno.remove(stacks, { recursive: true });
      await Deno.remove(bin, { recursive: true });
    }
  },
});
