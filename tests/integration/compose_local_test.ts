/**
 * compose_up on the local target through the real gateway: the plan names
 * the docker compose plugin (chosen when `docker compose version` succeeds)
 * then docker-compose, and a host with neither gets one clear sentence
 * instead of docker's `unknown flag: --ansi` (exercised only where neither
 * is installed; the SSH edge test covers it on every machine).
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call } from "./_mcp_checks.ts";
import { NO_COMPOSE } from "../../src/ops/compose.ts";
import { resolveProgram } from "../../src/exec/local_kind.ts";

async function hasCompose(): Promise<boolean> {
  if (resolveProgram("docker-compose")) return true;
  const docker = resolveProgram("docker");
  if (!docker) return false;
  const out = await new Deno.Command(docker, {
    args: ["compose", "version"],
    stdout: "null",
    stderr: "null",
  })
    .output();
  return out.success;
}

Deno.test({
  name:
    "stack_deploy on the local target creates the project directory, writes the files, then meets the missing compose CLI",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await tempDirWith();
    await Deno.mkdir(`${base}/stacks/web`, { recursive: true });
    await Deno.writeTextFile(`${base}/stacks/web/compose.yaml`, "services: {}\n");
    await Deno.mkdir(`${base}/deploy`);
    try {
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: local
    type: local
    capabilities: [file:write]
    files: { write_roots: [${base}/deploy] }
`,
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_STACKS: `${base}/stacks` },
      });
      const client = await connectHttp(gateway);
      try {
        const { results } = await call(client, "stack_deploy", { target: "local", stack: "web" });
        assert.equal(await Deno.readTextFile(`${base}/deploy/web/compose.yaml`), "services: {}\n");
        if (!(await hasCompose())) {
          assert.equal(results[0].error?.code, "program_missing", JSON.stringify(results[0]));
        }
        const again = await call(client, "stack_deploy", { target: "local", stack: "web" });
        assert.equal(again.results[0].status, "ok", JSON.stringify(again.results[0]));
        assert.equal(again.results[0].data?.changed, false);
      } finally {
        await client.close();
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "compose_up on the local target plans both compose CLIs and says plainly when neither is installed",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const root = await tempDirWith({ "compose.yaml": "services:\n  web:\n    image: busybox\n" });
    try {
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: local
    type: local
    capabilities: [stack:control]
    files: { roots: [${root}] }
`,
        policy: ALLOW_ALL_POLICY,
      });
      const client = await connectHttp(gateway);
      try {
        await t.step("dry run shows docker compose, then docker-compose, as argv", async () => {
          const { results } = await call(client, "compose_up", {
            target: "local",
            project_dir: root,
            dry_run: true,
          });
          const plan = results[0].plan as {
            mode: string;
            argv: string[][];
            chosen_when_these_succeed: (string[] | null)[];
          };
          assert.equal(plan.mode, "first_available");
          assert.deepEqual(plan.argv.map((argv) => argv.slice(0, 2)), [
            ["docker", "compose"],
            ["docker-compose", "--ansi"],
          ]);
          assert.deepEqual(plan.chosen_when_these_succeed, [
            ["docker", "compose", "version"],
            null,
          ]);
        });
        await t.step("without either CLI the target fails with one sentence", async () => {
          if (await hasCompose()) {
            console.warn(
              "compose is installed on this host: the missing-compose case is not exercised",
            );
            return;
          }
          const { results } = await call(client, "compose_up", {
            target: "local",
            project_dir: root,
          });
          assert.equal(results[0].status, "failed", JSON.stringify(results[0]));
          assert.equal(results[0].error?.code, "program_missing");
          if (resolveProgram("docker")) assert.equal(results[0].error?.message, NO_COMPOSE);
          assert.ok(!results[0].error?.message.includes("\n"));
          assert.ok(!results[0].error?.message.includes("--ansi"));
        });
      } finally {
        await client.close();
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
