/**
 * The user story "deploy the monitoring stack to every web server", for
 * real: three SSH hosts (real sshd on loopback), each with its own real
 * dockerd, run Debian's docker-compose (v1) on the shipped example stack
 * (`stacks/monitoring`, busybox images built locally: nothing is pulled),
 * through the real gateway and the SDK client — dry run, rollout in serial
 * batches with progress, `stack_status` on each engine, a repeat that
 * changes and restarts nothing, `stack_diff`, then `stack_down`.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { IMAGE_INSPECT_FORMAT } from "../../src/exec/image_pull.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";
import {
  callWithProgress,
  containerStarts,
  engineEnv,
  hasComposeV1,
  SHIPPED_STACKS,
  startEngines,
  writableDirs,
} from "./_compose_bed.ts";

const WEB = ["web-1", "web-2", "web-3"];
const SHIPPED_FILES = ["compose.yaml", "exporter.sh", "probe.env"];

interface Service {
  service: string;
  ready: boolean;
  containers: { name: string; state: string; health: string | null }[];
}

Deno.test({
  name: "the monitoring stack is deployed to every web server in batches, verified, " +
    "redeployed without a change, compared and taken down",
  ignore: !(await hasComposeV1()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let engines: DockerdTestbed[] = [];
    let fleet: Fleet | undefined;
    try {
      engines = await startEngines(WEB.length);
      fleet = await startFleet({
        instances: WEB.length,
        targets: (filesDir) =>
          WEB.map((id, i) => ({
            id,
            instance: i,
            tags: ["web"],
            capabilities: ["file:write", "stack:read", "stack:control"],
            writeRoots: [`${filesDir}/${id}`],
          })),
        sessionEnv: engines.map((engine) => engineEnv(engine)),
        extraTargets: engines.flatMap((engine, i) => [
          `  - id: engine-${i + 1}`,
          "    type: docker",
          "    tags: [engine]",
          "    capabilities: [stack:read]",
          `    connection: { socket: ${engine.socket} }`,
        ]),
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_STACKS: SHIPPED_STACKS },
      });
      await writableDirs(fleet.filesDir, WEB);
      const client = fleet.client;
      const dirOf = (id: string) => `${fleet!.filesDir}/${id}/monitoring`;

      await t.step("tools/list shows stack_deploy, stack_diff and stack_down", async () => {
        const { tools } = await client.listTools();
        for (const name of ["stack_deploy", "stack_diff", "stack_down"]) {
          const tool = tools.find((x) => x.name === name);
          assert.ok(tool, `${name} missing from ${tools.map((x) => x.name).join(", ")}`);
          assert.match(tool.description ?? "", /monitoring/);
        }
      });

      await t.step(
        "dry run shows every file's diff and every compose command per target, nothing runs",
        async () => {
          const called = await call(client, "stack_deploy", {
            targets: "tag:web",
            stack: "monitoring",
            serial: 2,
            dry_run: true,
          });
          assert.deepEqual(called.results.map((r) => r.status), ["planned", "planned", "planned"]);
          for (const [i, entry] of called.results.entries()) {
            const plan = entry.plan as {
              steps: {
                kind: string;
                path?: string;
                argv?: string[][];
                chosen_when_these_succeed?: (string[] | null)[];
                remote_command_lines?: string[];
                repeated_until_settled?: { services: string[] };
              }[];
              check: {
                files: { name: string; diff: string; would_change: boolean }[];
                would_run_compose: boolean;
                would_pull: string[];
                pull_decisions: { service: string; engine: string; pull: boolean }[];
                warnings: string[];
              };
            };
            const kinds = plan.steps.map((s) => s.kind);
            assert.deepEqual(kinds, [
              "write_file",
              "write_file",
              "write_file",
              "exec",
              "exec",
              "exec",
              "exec",
            ]);
            assert.deepEqual(
              plan.steps.slice(0, 3).map((s) => s.path),
              SHIPPED_FILES.map((f) => `${dirOf(WEB[i])}/${f}`),
            );
            // The engine is asked about busybox:1.36 (pull_policy if_not_present) before any
            // pull; the pull step gets only the services it decides on.
            assert.deepEqual(plan.steps[3].argv, [[
              "docker",
              "image",
              "inspect",
              "--format",
              IMAGE_INSPECT_FORMAT,
              "--",
              "busybox:1.36",
            ]]);
            assert.deepEqual(plan.steps[4].argv![1].slice(-2), ["pull", "--quiet"]);
            const up = plan.steps[5];
            const rest = [
              "--ansi",
              "never",
              "--project-name",
              "monitoring",
              "--project-directory",
              dirOf(WEB[i]),
              "up",
              "--detach",
              "--remove-orphans",
            ];
            assert.deepEqual(up.argv, [["docker", "compose", ...rest], [
              "docker-compose",
              ...rest,
            ]]);
            assert.deepEqual(up.chosen_when_these_succeed, [
              ["docker", "compose", "version"],
              null,
            ]);
            assert.match(up.remote_command_lines![0], /^if 'docker' 'compose' 'version' >/);
            assert.deepEqual(plan.steps[6].argv![0].slice(0, 3), ["docker", "ps", "--all"]);
            assert.deepEqual(plan.steps[6].repeated_until_settled?.services, [
              "exporter",
              "probe",
            ]);
            assert.deepEqual(plan.check.files.map((f) => [f.name, f.would_change]), [
              ["compose.yaml", true],
              ["exporter.sh", true],
              ["probe.env", true],
            ]);
            assert.match(plan.check.files[2].diff, /^--- \/dev\/null\n\+\+\+ \/probe\.env\n/);
            assert.equal(plan.check.would_run_compose, true);
            // busybox:1.36 was built on each engine (no registry digest): never pulled.
            assert.deepEqual(plan.check.would_pull, []);
            assert.deepEqual(
              plan.check.pull_decisions.map((d) => [d.service, d.engine, d.pull]),
              [["exporter", "local_only", false], ["probe", "local_only", false]],
            );
            assert.deepEqual(plan.check.warnings, []);
          }
          assert.deepEqual(called.results.map((r) => (r as { batch?: number }).batch), [1, 1, 2]);
          await assert.rejects(Deno.stat(dirOf("web-1")), Deno.errors.NotFound);
        },
      );

      await t.step(
        "the rollout goes in batches, brings every service up healthy and reports each",
        async () => {
          const { result, progress } = await callWithProgress(client, "stack_deploy", {
            targets: "tag:web",
            stack: "monitoring",
            serial: 2,
            wait_s: 180,
          });
          assert.deepEqual(
            result.results.map((r) => [r.target, r.status]),
            WEB.map((id) => [id, "ok"]),
            JSON.stringify(result.results.map((r) => r.error)),
          );
          assert.deepEqual(result.batches.map((b) => [b.batch, b.targets, b.ok, b.failed]), [
            [1, ["web-1", "web-2"], 2, 0],
            [2, ["web-3"], 1, 0],
          ]);
          for (const id of WEB) {
            assert.ok(
              progress.includes(`batch ${id === "web-3" ? 2 : 1}/2: ${id}: ok`),
              progress.join("\n"),
            );
          }
          for (const entry of result.results) {
            const data = entry.data as {
              changed: boolean;
              pulled: string[];
              pull_decisions: { service: string; engine: string; pull: boolean }[];
              compose: { compose: string } | null;
              services: Service[];
            };
            assert.equal(data.changed, true);
            assert.deepEqual(data.pulled, []);
            assert.deepEqual(data.pull_decisions.map((d) => [d.service, d.engine, d.pull]), [
              ["exporter", "local_only", false],
              ["probe", "local_only", false],
            ]);
            assert.equal(data.compose?.compose, "docker-compose");
            assert.deepEqual(
              data.services.map((s) => [s.service, s.ready, s.containers.map((c) => c.health)]),
              [["exporter", true, ["healthy"]], ["probe", true, ["healthy"]]],
            );
          }
          for (const id of WEB) {
            assert.equal(
              await Deno.readTextFile(`${dirOf(id)}/compose.yaml`),
              await Deno.readTextFile(`${SHIPPED_STACKS}/monitoring/compose.yaml`),
            );
          }
        },
      );

      await t.step(
        "stack_status on each web server's engine says the stack is healthy",
        async () => {
          const called = await call(client, "stack_status", {
            targets: "tag:engine",
            project: "monitoring",
          });
          assert.deepEqual(called.results.map((r) => r.status), ["ok", "ok", "ok"], called.text);
          for (const entry of called.results) {
            const data = entry.data as { healthy: boolean; services: { service: string }[] };
            assert.equal(data.healthy, true);
            assert.deepEqual(data.services.map((s) => s.service), ["exporter", "probe"]);
          }
        },
      );

      await t.step(
        "deploying again reports nothing changed and restarts no container",
        async () => {
          const before = await Promise.all(engines.map((e) => containerStarts(e, "monitoring")));
          assert.ok(before.every((lines) => lines.length === 2), JSON.stringify(before));
          const called = await call(client, "stack_deploy", {
            targets: "tag:web",
            stack: "monitoring",
            serial: 2,
          });
          for (const entry of called.results) {
            assert.equal(entry.status, "ok", JSON.stringify(entry));
            const data = entry.data as { changed: boolean; compose: unknown; services: Service[] };
            assert.equal(data.changed, false);
            assert.equal(data.compose, null);
            assert.ok(data.services.every((s) => s.ready));
          }
          assert.match(called.text, /nothing changed/);
          const after = await Promise.all(engines.map((e) => containerStarts(e, "monitoring")));
          assert.deepEqual(after, before);
        },
      );

      await t.step(
        "stack_diff finds web-2 in sync, web-1's edited file with its diff, and a changed mode",
        async () => {
          await Deno.writeTextFile(
            `${dirOf("web-1")}/probe.env`,
            "TARGET=http://127.0.0.1:9100/metrics\nINTERVAL=60\n",
          );
          const called = await call(client, "stack_diff", {
            targets: ["web-1", "web-2"],
            stack: "monitoring",
          });
          const [one, two] = called.results.map((r) =>
            r.data as {
              in_sync: boolean;
              files: { name: string; state: string; diff: string | null }[];
              services: { service: string; defined: boolean; ready: boolean }[];
            }
          );
          assert.equal(two.in_sync, true, JSON.stringify(two));
          assert.equal(one.in_sync, false);
          assert.deepEqual(one.files.map((f) => [f.name, f.state]), [
            ["compose.yaml", "same"],
            ["exporter.sh", "same"],
            ["probe.env", "differs"],
          ]);
          assert.match(one.files[2].diff ?? "", /\n-INTERVAL=60\n\+INTERVAL=5\n/);
          assert.deepEqual(one.services.map((s) => [s.service, s.defined, s.ready]), [
            ["exporter", true, true],
            ["probe", true, true],
          ]);
          // A mode changed on the host is a difference too (stack files are written 0644).
          await Deno.chmod(`${dirOf("web-2")}/probe.env`, 0o600);
          try {
            const moded = await call(client, "stack_diff", {
              target: "web-2",
              stack: "monitoring",
            });
            const data = moded.results[0].data as {
              in_sync: boolean;
              files: {
                name: string;
                state: string;
                diff: string | null;
                metadata_changes?: unknown;
              }[];
            };
            assert.equal(data.in_sync, false);
            const probe = data.files.find((f) => f.name === "probe.env");
            assert.equal(probe?.state, "differs");
            assert.equal(probe?.diff, "");
            assert.deepEqual(probe?.metadata_changes, { mode: { from: "0600", to: "0644" } });
          } finally {
            await Deno.chmod(`${dirOf("web-2")}/probe.env`, 0o644);
          }
        },
      );

      await t.step(
        "stack_down: dry run lists the containers, then takes the stack down",
        async () => {
          const dry = await call(client, "stack_down", {
            target: "web-3",
            stack: "monitoring",
            dry_run: true,
          });
          const plan = dry.results[0].plan as {
            argv: string[][];
            check: { would_remove: string[] };
          };
          assert.deepEqual(plan.argv[1].slice(-2), ["down", "--remove-orphans"]);
          assert.equal(plan.check.would_remove.length, 2, JSON.stringify(plan.check));
          assert.equal((await containerStarts(engines[2], "monitoring")).length, 2);
          const called = await call(client, "stack_down", { target: "web-3", stack: "monitoring" });
          assert.equal(called.results[0].status, "ok", called.text);
          assert.deepEqual(await containerStarts(engines[2], "monitoring"), []);
          const status = await call(client, "stack_status", {
            target: "engine-3",
            project: "monitoring",
          });
          assert.equal(status.results[0].error?.code, "not_found");
          // The other web servers keep theirs; the files stay.
          assert.equal((await containerStarts(engines[0], "monitoring")).length, 2);
          await Deno.stat(`${dirOf("web-3")}/compose.yaml`);
        },
      );
    } finally {
      await fleet?.close();
      await Promise.all(engines.map((e) => e.close()));
    }
  },
});
