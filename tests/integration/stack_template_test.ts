/**
 * Env templates inside a curated stack, through the real gateway
 * (launcher-derived permissions, the official SDK client) against a real
 * sshd host whose sessions reach a real dockerd, with Debian's
 * docker-compose v1: the dry run shows the filled env file with the secret
 * masked, the deploy writes it on the host and compose hands it to the
 * container, the same variables change nothing, a changed variable changes
 * that file and brings the stack up again, bad variables get one line naming
 * the template and variable, and the secret reaches no answer, audit record
 * or log line in clear, base64, hex or percent-encoded form. check-config
 * reports template problems in stacks at FILE:LINE:COLUMN.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { launchArgs } from "../../src/cli/launch.ts";
import { runCli, tempDirWith } from "./_gateway.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { ALLOW_ALL_POLICY } from "./_mcp_checks.ts";
import {
  containerStarts,
  engineEnv,
  hasComposeV1,
  startEngines,
  writableDirs,
} from "./_compose_bed.ts";
import { assertNoSecretForms, secretForms } from "./_secret_forms.ts";

/** The secret: characters that base64, hex and percent-encoding all change. */
const SECRET = "Tk-9f/3+a=Zq&x%7Ey!Secret42";

const COMPOSE = `services:
  app:
    image: busybox:1.36
    pull_policy: never
    network_mode: none
    stop_grace_period: 1s
    env_file: app.env
    command: ["sleep", "600"]
`;

const TEMPLATE = `version: 1
description: The app's environment.
variables:
  greeting: { type: string, pattern: "[A-Za-z ]{1,40}", description: What the app says }
  workers: { type: integer, min: 1, max: 16, default: 2 }
  api_token: { type: secret, from: "\${SHOP_API_TOKEN}" }
body: |
  GREETING={{greeting}}
  WORKERS={{workers}}
  API_TOKEN={{api_token}}
`;

function envFile(greeting: string, workers: number): string {
  return `GREETING=${greeting}\nWORKERS=${workers}\nAPI_TOKEN=${SECRET}\n`;
}

/** What a call answered, raw (to search for the secret) and as the tests read it. */
interface Answer {
  raw: string;
  isError: boolean;
  text: string;
  entry?: {
    status: string;
    data?: Record<string, unknown>;
    plan?: Record<string, unknown>;
    error?: { code: string; message: string };
  };
}

Deno.test({
  name: "a stack's env template is filled at deploy: masked dry run, the file on the host, " +
    "idempotent repeat, a changed variable redeploys, one-line refusals, no secret anywhere",
  ignore: !(await hasComposeV1()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const work = await tempDirWith();
    await Deno.chmod(work, 0o755);
    const stacks = `${work}/stacks`;
    await Deno.mkdir(`${stacks}/shop`, { recursive: true });
    await Deno.writeTextFile(`${stacks}/shop/compose.yaml`, COMPOSE);
    await Deno.writeTextFile(`${stacks}/shop/app.env.tailops-template.yaml`, TEMPLATE);

    let engines: DockerdTestbed[] = [];
    let fleet: Fleet | undefined;
    try {
      engines = await startEngines(1);
      const [engine] = engines;
      fleet = await startFleet({
        instances: 1,
        targets: (filesDir) => [{
          id: "web-1",
          instance: 0,
          tags: ["web"],
          capabilities: ["file:write", "stack:read", "stack:control"],
          writeRoots: [`${filesDir}/web-1`],
        }],
        sessionEnv: [engineEnv(engine)],
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_STACKS: stacks, SHOP_API_TOKEN: SECRET },
      });
      await writableDirs(fleet.filesDir, ["web-1"]);
      const client = fleet.client;
      const dir = `${fleet.filesDir}/web-1/shop`;
      const file = `${dir}/app.env`;
      const callRaw = async (name: string, args: Record<string, unknown>): Promise<Answer> => {
        const result = await client.callTool({
          name,
          arguments: { target: "web-1", stack: "shop", ...args },
        }, { timeout: 600_000 });
        const content = (result.content ?? []) as { text?: string }[];
        const structured = result.structuredContent as { results?: Answer["entry"][] } | undefined;
        return {
          raw: JSON.stringify(result),
          isError: result.isError === true,
          text: content.map((c) => c.text ?? "").join("\n"),
          entry: structured?.results?.[0],
        };
      };
      /** The container's environment as compose gave it. */
      const containerEnv = async () => {
        const ids =
          (await engine.docker("ps", "-q", "--filter", "label=com.docker.compose.project=shop"))
            .split("\n").filter(Boolean);
        assert.equal(ids.length, 1);
        return (await engine.docker(
          "inspect",
          "-f",
          "{{range .Config.Env}}{{println .}}{{end}}",
          ids[0],
        ))
          .split("\n");
      };

      await t.step("tools/list describes the stack's variables and never the secret", async () => {
        const tools = (await client.listTools()).tools;
        const deploy = tools.find((tl) => tl.name === "stack_deploy");
        const props = deploy?.inputSchema.properties as Record<string, { description?: string }>;
        assert.match(
          props.variables.description ?? "",
          /shop: greeting: string \(app\.env\), workers: integer\? \(app\.env\)/,
        );
        assert.ok(!(props.variables.description ?? "").includes("api_token"));
        assertNoSecretForms(JSON.stringify(tools), SECRET, "tools/list");
      });

      await t.step(
        "dry run shows the filled env file with the secret masked, writes nothing",
        async () => {
          const dry = await callRaw("stack_deploy", {
            variables: { greeting: "hello there" },
            dry_run: true,
          });
          const check = dry.entry?.plan?.check as {
            files: { name: string; diff: string; secrets_masked?: boolean }[];
            would_run_compose: boolean;
          };
          const env = check.files.find((f) => f.name === "app.env")!;
          assert.equal(
            env.diff,
            "--- /dev/null\n+++ /app.env\n@@ -0,0 +1,3 @@\n+GREETING=hello there\n+WORKERS=2\n" +
              "+API_TOKEN=[REDACTED]\n",
          );
          assert.equal(env.secrets_masked, true);
          assert.equal(check.would_run_compose, true);
          assertNoSecretForms(dry.raw, SECRET, "dry run");
          await assert.rejects(Deno.stat(dir), Deno.errors.NotFound);
        },
      );

      let starts: string[] = [];
      await t.step(
        "the deploy writes the filled file on the host and compose hands it to the container",
        async () => {
          const done = await callRaw("stack_deploy", { variables: { greeting: "hello there" } });
          assert.equal(done.entry?.status, "ok", done.raw);
          const data = done.entry!.data as {
            changed: boolean;
            compose: unknown;
            services: { ready: boolean }[];
          };
          assert.equal(data.changed, true);
          assert.ok(data.compose !== null);
          assert.ok(data.services.every((s) => s.ready), done.raw);
          assert.equal(await Deno.readTextFile(file), envFile("hello there", 2));
          const env = await containerEnv();
          assert.ok(
            env.includes("GREETING=hello there") && env.includes("WORKERS=2"),
            env.join("\n"),
          );
          assert.ok(env.includes(`API_TOKEN=${SECRET}`), "the container gets the secret");
          assertNoSecretForms(done.raw, SECRET, "deploy result");
          starts = await containerStarts(engine, "shop");
          assert.equal(starts.length, 1);
        },
      );

      await t.step("the same variables again change nothing and restart nothing", async () => {
        const again = await callRaw("stack_deploy", { variables: { greeting: "hello there" } });
        assert.equal(again.entry?.status, "ok", again.raw);
        const data = again.entry!.data as {
          changed: boolean;
          compose: unknown;
          files: { changed: boolean }[];
        };
        assert.equal(data.changed, false);
        assert.equal(data.compose, null);
        assert.ok(data.files.every((f) => !f.changed));
        assert.deepEqual(await containerStarts(engine, "shop"), starts);
        const diff = await callRaw("stack_diff", { variables: { greeting: "hello there" } });
        assert.equal((diff.entry?.data as { in_sync: boolean }).in_sync, true, diff.raw);
      });

      await t.step(
        "stack_diff with another value shows that file's diff, the secret masked",
        async () => {
          const diff = await callRaw("stack_diff", {
            variables: { greeting: "hello there", workers: 4 },
          });
          const data = diff.entry?.data as {
            in_sync: boolean;
            files: { name: string; state: string; diff: string | null }[];
          };
          assert.equal(data.in_sync, false);
          assert.deepEqual(data.files.map((f) => [f.name, f.state]), [
            ["app.env", "differs"],
            ["compose.yaml", "same"],
          ]);
          assert.match(
            data.files[0].diff ?? "",
            /\n-WORKERS=2\n\+WORKERS=4\n API_TOKEN=\[REDACTED\]\n/,
          );
          assertNoSecretForms(diff.raw, SECRET, "stack_diff");
        },
      );

      await t.step(
        "a changed variable changes that file only, and compose brings the stack up again",
        async () => {
          const done = await callRaw("stack_deploy", {
            variables: { greeting: "hello there", workers: 4 },
          });
          assert.equal(done.entry?.status, "ok", done.raw);
          const data = done.entry!.data as {
            changed: boolean;
            compose: unknown;
            files: { name: string; changed: boolean; backup: string | null }[];
          };
          assert.equal(data.changed, true);
          assert.ok(data.compose !== null);
          assert.deepEqual(data.files.map((f) => [f.name, f.changed]), [
            ["app.env", true],
            ["compose.yaml", false],
          ]);
          assert.equal(data.files[0].backup, `${dir}/.app.env.tailops-prev`);
          assert.equal(await Deno.readTextFile(file), envFile("hello there", 4));
          assert.ok((await containerEnv()).includes("WORKERS=4"), "the container was recreated");
          assert.notDeepEqual(await containerStarts(engine, "shop"), starts);
          assertNoSecretForms(done.raw, SECRET, "redeploy result");
        },
      );

      await t.step(
        "bad variables get one line naming the template and variable; nothing is written",
        async () => {
          const cases: [string, Record<string, unknown>, RegExp][] = [
            [
              "stack_deploy",
              {},
              /Missing variable "greeting" for template "app\.env" of stack "shop"/,
            ],
            [
              "stack_deploy",
              { greeting: "hi", colour: "red" },
              /Unknown variable "colour" for stack "shop": expected one of "greeting", "workers"/,
            ],
            [
              "stack_deploy",
              { greeting: "hi", workers: 99 },
              /Invalid variable "workers" for template "app\.env"/,
            ],
            ["stack_deploy", { greeting: "hi", workers: "3" }, /Invalid variable "workers"/],
            [
              "stack_deploy",
              { greeting: "hi\nAPI_TOKEN=mine" },
              /Invalid variable "greeting" for template "app\.env"/,
            ],
            ["stack_deploy", { greeting: "hi", api_token: "mine" }, /"api_token".*it is a secret/],
            [
              "stack_diff",
              { greeting: "hi;rm" },
              /Invalid variable "greeting" for template "app\.env"/,
            ],
          ];
          for (const [tool, variables, expected] of cases) {
            const refused = await callRaw(tool, { variables });
            assert.equal(refused.isError, true, refused.raw);
            assert.match(refused.text, /^invalid_arguments: /, refused.text);
            assert.match(refused.text, expected);
            assert.equal(refused.text.split("\n").length, 1, refused.text);
            assertNoSecretForms(refused.raw, SECRET, `refusal ${JSON.stringify(variables)}`);
          }
          assert.equal(await Deno.readTextFile(file), envFile("hello there", 4));
        },
      );

      await t.step(
        "encoded echoes of the secret in the host's file are redacted from diffs",
        async () => {
          const forms = secretForms(SECRET);
          await Deno.writeTextFile(
            file,
            `B64=${forms.base64}\nHEX=${forms.hex}\nPCT=${forms.percent}\nRAW=${SECRET}\n`,
          );
          const variables = { greeting: "hello there", workers: 4 };
          const dry = await callRaw("stack_deploy", { variables, dry_run: true });
          const diff = await callRaw("stack_diff", { variables });
          assert.match(diff.raw, /-RAW=\[REDACTED\]/);
          assertNoSecretForms(dry.raw, SECRET, "dry run against encoded echoes");
          assertNoSecretForms(diff.raw, SECRET, "stack_diff against encoded echoes");
        },
      );

      await t.step("the audit log and the gateway's log hold no form of the secret", async () => {
        await fleet!.gateway.stop();
        const audit = await Deno.readTextFile(fleet!.gateway.auditFile);
        assertNoSecretForms(audit, SECRET, "audit log");
        assertNoSecretForms(fleet!.gateway.stderr(), SECRET, "gateway log");
        const decided = audit.split("\n").filter((l) => l.includes('"stack_deploy"'))
          .map((l) => JSON.parse(l)).find((r) => Array.isArray(r.args?.rendered));
        assert.ok(decided, "a stack_deploy record with the filled template's digest");
        assert.match(
          JSON.stringify(decided.args.rendered),
          /"name":"app.env","sha256":"[0-9a-f]{64}"/,
        );
        assert.deepEqual(Object.keys(decided.args.variables), ["greeting"]);
      });
    } finally {
      await fleet?.close();
      await Promise.all(engines.map((e) => e.close()));
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("check-config reports env template problems in stacks at FILE:LINE:COLUMN", async () => {
  const dir = await tempDirWith();
  try {
    await Deno.mkdir(`${dir}/shop`);
    await Deno.writeTextFile(`${dir}/shop/compose.yaml`, COMPOSE);
    await Deno.writeTextFile(
      `${dir}/shop/app.env.tailops-template.yaml`,
      TEMPLATE.replace("WORKERS={{workers}}", "WORKERS={{ workers }}"),
    );
    await Deno.writeTextFile(
      `${dir}/shop/web.env.tailops-template.yaml`,
      [
        "version: 1",
        "description: d",
        "variables:",
        "  workers: { type: string, pattern: '[0-9]+' }",
        "body: 'W={{workers}}'",
        "",
      ].join("\n"),
    );
    const run = await runCli(["check-config", "--stacks", dir], { env: { SHOP_API_TOKEN: null } });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const lines = run.stderr.trim().split("\n");
    const one = (pattern: RegExp) => {
      const found = lines.filter((l) => pattern.test(l));
      assert.equal(found.length, 1, `${pattern}\n${run.stderr}`);
      return found[0];
    };
    const app = `${dir}/shop/app.env.tailops-template.yaml`;
    assert.match(
      one(/Invalid template syntax "\{\{ workers \}\}/),
      new RegExp(`^${app}:\\d+:\\d+: `),
    );
    assert.match(one(/Variable "workers" is never used/), new RegExp(`^${app}:\\d+:\\d+: `));
    assert.match(
      one(/"workers" is declared differently in template "app.env"/),
      new RegExp(`^${dir}/shop/web\\.env\\.tailops-template\\.yaml:4:12: `),
    );
    assert.ok(!run.stderr.includes("    at "), "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the launcher grants a stack env template's secret references, env and file", async () => {
  const dir = await tempDirWith({
    "targets.yaml":
      "version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [system:read]\n",
    "token.txt": "file-secret-0001\n",
  });
  await Deno.mkdir(`${dir}/stacks/shop`, { recursive: true });
  await Deno.writeTextFile(`${dir}/stacks/shop/compose.yaml`, COMPOSE);
  await Deno.writeTextFile(
    `${dir}/stacks/shop/app.env.tailops-template.yaml`,
    TEMPLATE.replace("API_TOKEN={{api_token}}", "API_TOKEN={{api_token}}\n  FILE={{from_file}}")
      .replace("body:", `  from_file: { type: secret, from: "file:${dir}/token.txt" }\nbody:`),
  );
  Deno.env.set("TAILOPS_STACKS", `${dir}/stacks`);
  try {
    // Secrets are not read by the launcher (SHOP_API_TOKEN is unset here), only granted.
    const args = await launchArgs(["--targets", `${dir}/targets.yaml`, "--state-dir", `${dir}/s`]);
    const list = (flag: string) =>
      (args.find((arg) => arg.startsWith(`${flag}=`)) ?? "").slice(flag.length + 1).split(",");
    assert.ok(list("--allow-env").includes("SHOP_API_TOKEN"), list("--allow-env").join(","));
    assert.ok(list("--allow-read").includes(`${dir}/token.txt`), list("--allow-read").join(","));
    assert.ok(list("--allow-read").includes(`${dir}/stacks`));
  } finally {
    Deno.env.delete("TAILOPS_STACKS");
    await Deno.remove(dir, { recursive: true });
  }
});
