/**
 * Compose stacks at their edges, through the real gateway and real sshd
 * hosts sharing one real dockerd: a rollout by percentage whose first batch
 * holds a host without compose, the v2 plugin chosen over docker-compose (a planted
 * plugin executable that records its argv and hands over to docker-compose:
 * the v2 plugin is not packaged for Debian 12), the pull decision taken from the engine (a
 * local-only image never pulled, an absent one and one pulled earlier from a loopback registry
 * pulled through the stand-in, so no deploy reaches any registry), a stack that never gets
 * healthy, a stack directory that is a symlink, stack names that try to
 * leave the stacks directory, and a compose file reaching for the host.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { RegistryTestbed } from "../../scripts/testbed/registry.ts";
import { NO_COMPOSE } from "../../src/ops/compose.ts";
import { tempDirWith } from "./_gateway.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";
import {
  binWithout,
  callWithProgress,
  containerStarts,
  engineEnv,
  hasComposeV1,
  SHIPPED_STACKS,
  startEngines,
  writableDirs,
} from "./_compose_bed.ts";

const STUCK = `services:
  web:
    image: busybox:1.36
    pull_policy: never
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      retries: 1
`;

const RISKY = `services:
  agent:
    image: busybox:1.36
    pull_policy: never
    privileged: true
    network_mode: host
    volumes:
      - /:/host:ro
      - /var/run/docker.sock:/var/run/docker.sock
`;

/**
 * A stack whose images the engine must be asked about: `app` is tagged on the engine from the
 * locally built busybox (no registry digest) and has no pull_policy, `fresh` is not on the
 * engine, `kept` is local with `if_not_present`; `registry` and `synced` use an image the engine
 * pulled from a loopback registry (it has a repo digest), without pull_policy and with
 * `if_not_present`.
 */
const builtCompose = (fromRegistry: string) =>
  `services:
  app:
    image: tailops-local/app:1
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
  fresh:
    image: tailops-fresh:1
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
  kept:
    image: busybox:1.36
    pull_policy: if_not_present
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
  registry:
    image: ${fromRegistry}
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
  synced:
    image: ${fromRegistry}
    pull_policy: if_not_present
    network_mode: none
    stop_grace_period: 1s
    command: ["sleep", "600"]
`;

/**
 * A docker CLI plugin stand-in: records its argv, answers metadata and version, stands in for
 * `pull` (no registry is reachable: it tags the local busybox as `tailops-fresh:1`, what a pull
 * of BUILT's `fresh` would bring), else runs v1.
 */
function pluginScript(log: string): string {
  return [
    "#!/bin/sh",
    `printf '%s\\n' "$*" >> ${log}`,
    'if [ "$1" = docker-cli-plugin-metadata ]; then',
    `  echo '{"SchemaVersion":"0.1.0","Vendor":"tailops test","Version":"v2.99.0"}'`,
    "  exit 0",
    "fi",
    "shift",
    'if [ "$1" = version ]; then echo "Docker Compose version v2.99.0-test"; exit 0; fi',
    'case " $* " in *" pull --quiet "*) exec docker tag busybox:1.36 tailops-fresh:1;; esac',
    'exec docker-compose "$@"',
    "",
  ].join("\n");
}

Deno.test({
  name: "compose stacks at the edges: no compose in batch 1 beside the v2 plugin, never healthy, " +
    "a symlinked stack dir, escaping names, host-reaching settings",
  ignore: !(await hasComposeV1()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const work = await tempDirWith();
    await Deno.chmod(work, 0o755);
    const stacks = `${work}/stacks`;
    for (const [name, compose] of [["stuck", STUCK], ["risky", RISKY]]) {
      await Deno.mkdir(`${stacks}/${name}`, { recursive: true });
      await Deno.writeTextFile(`${stacks}/${name}/compose.yaml`, compose);
    }
    await Deno.mkdir(`${stacks}/monitoring`);
    for await (const entry of Deno.readDir(`${SHIPPED_STACKS}/monitoring`)) {
      await Deno.copyFile(
        `${SHIPPED_STACKS}/monitoring/${entry.name}`,
        `${stacks}/monitoring/${entry.name}`,
      );
    }
    // A PATH with every program of /usr/bin but docker-compose (the docker CLI stays, no plugin).
    const bin = await binWithout(`${work}/bin-without-compose`, ["docker-compose"]);
    // The planted plugin, found through DOCKER_CONFIG/cli-plugins.
    const config = `${work}/docker-config`;
    await Deno.mkdir(`${config}/cli-plugins`, { recursive: true });
    const pluginLog = `${work}/plugin-argv.log`;
    await Deno.writeTextFile(pluginLog, "", { mode: 0o666 });
    await Deno.chmod(pluginLog, 0o666);
    await Deno.writeTextFile(`${config}/cli-plugins/docker-compose`, pluginScript(pluginLog), {
      mode: 0o755,
    });
    await Deno.chmod(`${config}/cli-plugins/docker-compose`, 0o755);

    let engines: DockerdTestbed[] = [];
    let fleet: Fleet | undefined;
    try {
      engines = await startEngines(1);
      const [engine] = engines;
      // An image that came from a registry: pulled once from a loopback registry, which is
      // gone before any deploy runs (the deploys' pulls go to the plugin stand-in).
      const registry = await RegistryTestbed.start(engine, {
        image: "busybox:1.36",
        name: "tailops/app:1",
      });
      const fromRegistry = `${registry.host}/tailops/app:1`;
      try {
        await engine.docker("pull", fromRegistry);
      } finally {
        await registry.close();
      }
      await Deno.mkdir(`${stacks}/built`);
      await Deno.writeTextFile(`${stacks}/built/compose.yaml`, builtCompose(fromRegistry));
      const ids = ["bare", "plugin", "v1"];
      fleet = await startFleet({
        instances: 3,
        targets: (filesDir) =>
          ids.map((id, i) => ({
            id,
            instance: i,
            tags: ["web"],
            capabilities: ["file:write", "stack:read", "stack:control"],
            writeRoots: [`${filesDir}/${id}`],
          })),
        sessionEnv: [
          engineEnv(engine, { PATH: `/usr/local/bin:${bin}` }),
          engineEnv(engine, { DOCKER_CONFIG: config }),
          engineEnv(engine),
        ],
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_STACKS: stacks },
      });
      await writableDirs(fleet.filesDir, [...ids, "outside"]);
      const client = fleet.client;
      const dirOf = (id: string, stack = "monitoring") => `${fleet!.filesDir}/${id}/${stack}`;
      /** What the plugin is given (after "compose") for the monitoring stack on a host. */
      const pluginArgv = (id: string, stack = "monitoring") =>
        `compose --ansi never --project-name ${stack} --project-directory ${dirOf(id, stack)}`;

      await t.step(
        "a rollout by percentage: in batch 1 a host without compose fails with one sentence " +
          "and the docker compose plugin is chosen over docker-compose; batch 2 is skipped",
        async () => {
          const { result, progress } = await callWithProgress(client, "stack_deploy", {
            targets: "tag:web",
            stack: "monitoring",
            serial: "50%",
            max_failures: 1,
            wait_s: 180,
          });
          assert.deepEqual(result.results.map((r) => [r.target, r.status]), [
            ["bare", "failed"],
            ["plugin", "ok"],
            ["v1", "skipped"],
          ], JSON.stringify(result.results));
          assert.deepEqual(result.results[0].error, {
            code: "program_missing",
            message: NO_COMPOSE,
          });
          assert.deepEqual(
            result.batches.map((b) => [b.batch, b.targets, b.ok, b.failed, b.skipped]),
            [
              [1, ["bare", "plugin"], 1, 1, 0],
              [2, ["v1"], 0, 0, 1],
            ],
          );
          assert.deepEqual(progress.toSorted(), [
            "batch 1/2: bare: failed",
            "batch 1/2: plugin: ok",
            "batch 2/2: v1: skipped",
          ]);
          // The files reached the host without compose before compose was looked for.
          await Deno.stat(`${dirOf("bare")}/compose.yaml`);
          await assert.rejects(Deno.stat(dirOf("v1")), Deno.errors.NotFound);
          const data = result.results[1].data as {
            compose: { compose: string };
            services: { ready: boolean }[];
          };
          assert.equal(data.compose.compose, "docker compose");
          assert.ok(data.services.every((s) => s.ready));
          const lines = (await Deno.readTextFile(pluginLog)).split("\n");
          assert.ok(lines.includes("compose version"), lines.join("\n"));
          assert.ok(lines.includes(`${pluginArgv("plugin")} up --detach --remove-orphans`));
          assert.equal((await containerStarts(engine, "monitoring")).length, 2);
        },
      );

      await t.step("stack_down runs through the plugin and the containers go", async () => {
        const down = await call(client, "stack_down", { target: "plugin", stack: "monitoring" });
        assert.equal(down.results[0].status, "ok", down.text);
        const lines = (await Deno.readTextFile(pluginLog)).split("\n");
        assert.ok(lines.includes(`${pluginArgv("plugin")} down --remove-orphans`));
        assert.deepEqual(await containerStarts(engine, "monitoring"), []);
      });

      await t.step(
        "which images are pulled is decided from the engine: one it lacks or got from a " +
          "registry is pulled, one built or loaded only there never is (dry run shows each " +
          "decision and the command)",
        async () => {
          await engine.docker("tag", "busybox:1.36", "tailops-local/app:1");
          const before = (await Deno.readTextFile(pluginLog)).split("\n").length;
          const dry = await call(client, "stack_deploy", {
            target: "plugin",
            stack: "built",
            dry_run: true,
          });
          const check = (dry.results[0].plan as {
            check: {
              would_pull: string[];
              pull_commands: string[][];
              pull_decisions: { service: string; engine: string; pull: boolean }[];
            };
          }).check;
          const decided = [
            ["app", "local_only", false],
            ["fresh", "absent", true],
            ["kept", "local_only", false],
            ["registry", "from_registry", true],
            ["synced", "from_registry", false],
          ];
          assert.deepEqual(
            check.pull_decisions.map((d) => [d.service, d.engine, d.pull]),
            decided,
            JSON.stringify(check),
          );
          assert.deepEqual(check.would_pull, ["fresh", "registry"]);
          const pullArgv = `${pluginArgv("plugin", "built")} pull --quiet -- fresh registry`;
          assert.deepEqual(check.pull_commands[0], ["docker", ...pullArgv.split(" ")]);
          // Dry run asked the engine and pulled nothing.
          const dryLines = (await Deno.readTextFile(pluginLog)).split("\n").slice(before - 1);
          assert.ok(!dryLines.some((l) => / pull /.test(l)), dryLines.join("\n"));
          await assert.rejects(engine.docker("image", "inspect", "tailops-fresh:1"));

          const real = await call(client, "stack_deploy", {
            target: "plugin",
            stack: "built",
            wait_s: 180,
          });
          assert.equal(real.results[0].status, "ok", real.text);
          const data = real.results[0].data as {
            pulled: string[];
            pull_decisions: { service: string; engine: string; pull: boolean; reason: string }[];
            services: { service: string; ready: boolean }[];
          };
          assert.deepEqual(data.pulled, ["fresh", "registry"]);
          assert.deepEqual(data.pull_decisions.map((d) => [d.service, d.engine, d.pull]), decided);
          assert.match(data.pull_decisions[0].reason, /only on this engine/);
          assert.deepEqual(data.services.map((s) => [s.service, s.ready]), [
            ["app", true],
            ["fresh", true],
            ["kept", true],
            ["registry", true],
            ["synced", true],
          ]);
          const pulls = (await Deno.readTextFile(pluginLog)).split("\n").filter((l) =>
            / pull /.test(l)
          );
          assert.deepEqual(pulls, [pullArgv]);
          const down = await call(client, "stack_down", { target: "plugin", stack: "built" });
          assert.equal(down.results[0].status, "ok", down.text);
        },
      );

      await t.step(
        "a stack that never gets healthy fails at wait_s naming the service",
        async () => {
          const called = await call(client, "stack_deploy", {
            target: "v1",
            stack: "stuck",
            wait_s: 3,
          });
          const entry = called.results[0];
          assert.equal(entry.status, "failed");
          assert.equal(entry.error?.code, "not_ready");
          assert.match(
            entry.error?.message ?? "",
            /^Not every service was running and healthy within 3 s: web: (unhealthy|starting)$/,
          );
          const diff = await call(client, "stack_diff", { target: "v1", stack: "stuck" });
          const data = diff.results[0].data as {
            in_sync: boolean;
            services: { service: string; ready: boolean }[];
          };
          assert.equal(data.in_sync, false);
          assert.deepEqual(data.services.map((s) => [s.service, s.ready]), [["web", false]]);
          const down = await call(client, "stack_down", { target: "v1", stack: "stuck" });
          assert.equal(down.results[0].status, "ok", down.text);
        },
      );

      await t.step(
        "a stack directory that is a symlink is refused and nothing lands where it points",
        async () => {
          await Deno.symlink(`${fleet!.filesDir}/outside`, dirOf("v1"));
          for (const args of [{}, { dry_run: true }]) {
            const called = await call(client, "stack_deploy", {
              target: "v1",
              stack: "monitoring",
              ...args,
            });
            const entry = called.results[0] as {
              status: string;
              error?: { code: string };
              plan?: { check: { files: { error?: { code: string } }[] } };
            };
            if ("dry_run" in args) {
              assert.equal(entry.plan?.check.files[0].error?.code, "forbidden");
            } else {
              assert.equal(entry.status, "failed");
              assert.equal(entry.error?.code, "forbidden");
            }
          }
          assert.deepEqual([...Deno.readDirSync(`${fleet!.filesDir}/outside`)], []);
          assert.deepEqual(await containerStarts(engine, "monitoring"), []);
          const outside = await call(client, "stack_deploy", {
            target: "v1",
            stack: "monitoring",
            project_dir: "/etc/monitoring",
          });
          assert.equal(outside.results[0].error?.code, "forbidden");
        },
      );

      await t.step("stack names that try to leave the stacks directory are refused", async () => {
        for (
          const stack of [
            "../monitoring",
            "monitoring/..",
            "monitoring/../risky",
            "%2e%2e",
            "..%2fetc",
            "monitoring\u0000",
            "MONITORING",
            "\uff4donitoring",
            "/etc",
          ]
        ) {
          const called = await call(client, "stack_deploy", { target: "v1", stack, dry_run: true });
          assert.equal(called.isError, true, stack);
          assert.match(
            called.text,
            /Invalid stack: expected one of built, monitoring, risky, stuck/,
          );
          assert.equal(called.text.split("\n").length <= 2, true, called.text);
        }
      });

      await t.step(
        "settings that reach the host are shown in dry run, not hidden or refused",
        async () => {
          const called = await call(client, "stack_deploy", {
            target: "v1",
            stack: "risky",
            dry_run: true,
          });
          const plan = called.results[0].plan as { check: { warnings: string[] } };
          assert.deepEqual(plan.check.warnings, [
            'service "agent": privileged: true (full access to the host)',
            'service "agent": network_mode: host (shares the host\'s namespace)',
            'service "agent": mounts the host\'s root directory /',
            'service "agent": mounts the Docker socket /var/run/docker.sock (root on the host)',
          ]);
        },
      );
    } finally {
      await fleet?.close();
      await Promise.all(engines.map((e) => e.close()));
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});
