import assert from "node:assert/strict";
import { Secret } from "../../src/config/secret.ts";
import type { Stack } from "../../src/config/stacks_load.ts";
import type { Template } from "../../src/config/templates_load.ts";
import { targetSchema } from "../../src/config/targets_schema.ts";
import type { FsWritePlan, SequencePlan } from "../../src/exec/plan.ts";
import { catalogSecrets } from "../../src/cli/catalog.ts";
import { stackDeploy } from "../../src/ops/stack_deploy.ts";
import { stackDiff } from "../../src/ops/stack_diff.ts";
import { describeStackFiles } from "../../src/ops/_stack_host.ts";
import { checkStackVariables, deployedFiles } from "../../src/ops/_stack_template.ts";

const TOKEN = "tok-9f/3+a=Zq&x";

function template(name: string, body: string, variables: Template["variables"]): Template {
  return { name, description: "d", file: `${name}.tailops-template.yaml`, variables, body };
}

const port = {
  type: "integer",
  min: 1,
  max: 65535,
  default: 8080,
  optional: false,
  description: "",
} as const;
const greeting = {
  type: "string",
  pattern: "[A-Za-z {}]{1,40}",
  max_length: 40,
  optional: false,
  description: "",
} as const;

const STACK: Stack = {
  name: "shop",
  files: [
    {
      name: "app.env",
      template: template("app.env", "GREETING={{greeting}}\nPORT={{port}}\nTOKEN={{token}}\n", {
        greeting,
        port,
        token: { type: "secret", from: new Secret("env:SHOP_TOKEN", TOKEN), description: "" },
      }),
    },
    { name: "compose.yaml", content: "services: {}\n" },
    { name: "web.env", template: template("web.env", "PORT={{port}}\n", { port }) },
  ],
  services: [{ name: "web", image: "shop:1", build: false, pullPolicy: "never" }],
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
});

function problemOf(given: Record<string, unknown>): string {
  const checked = checkStackVariables(STACK, given);
  assert.ok("problem" in checked, JSON.stringify(checked));
  return checked.problem;
}

Deno.test("checkStackVariables() says in one line which template and variable is wrong", () => {
  assert.equal(
    problemOf({}),
    'Missing variable "greeting" for template "app.env" of stack "shop": expected a string',
  );
  assert.equal(
    problemOf({ greeting: "hi", colour: "red" }),
    'Unknown variable "colour" for stack "shop": expected one of "greeting", "port"',
  );
  assert.equal(
    problemOf({ greeting: "hi", port: 70000 }),
    'Invalid variable "port" for template "app.env", "web.env" of stack "shop": ' +
      "Too big: expected number to be <=65535",
  );
  assert.match(
    problemOf({ greeting: "hi\nTOKEN=mine" }),
    /^Invalid variable "greeting" for template "app.env" of stack "shop": expected no control/,
  );
  assert.match(problemOf({ greeting: "hi", token: "mine" }), /"token".*it is a secret/);
  for (const bad of [{}, { greeting: "x", port: "80" }, { greeting: "-x" }]) {
    assert.ok(!problemOf(bad).includes("\n"));
  }
});

Deno.test("deployedFiles() fills templates in one pass with defaults; plain files stay as they are", () => {
  const files = deployedFiles(STACK, { greeting: "hello {{port}} {{token}}" });
  assert.deepEqual(files.map((f) => [f.name, f.content]), [
    ["app.env", `GREETING=hello {{port}} {{token}}\nPORT=8080\nTOKEN=${TOKEN}\n`],
    ["compose.yaml", "services: {}\n"],
    ["web.env", "PORT=8080\n"],
  ]);
  assert.deepEqual(files.map((f) => f.secrets), [[TOKEN], [], []]);
});

Deno.test("stack_deploy refuses bad variables before the gate and writes the filled files", () => {
  const op = stackDeploy([STACK]);
  const bad = op.input.safeParse({ stack: "shop", variables: { greeting: "hi", port: 0 } });
  assert.equal(bad.success, false);
  assert.match(bad.error!.issues[0].message, /Invalid variable "port" for template/);
  assert.deepEqual(bad.error!.issues[0].path, ["variables"]);
  const args = op.input.parse({ stack: "shop", variables: { greeting: "hi", port: 9000 } });
  const { steps } = op.plan(args, target) as SequencePlan;
  const writes = steps.slice(0, 3).map((s) => s.plan as FsWritePlan);
  assert.deepEqual(writes.map((w) => w.path), [
    "/srv/shop/app.env",
    "/srv/shop/compose.yaml",
    "/srv/shop/web.env",
  ]);
  assert.equal(atob(writes[2].content), "PORT=9000\n");
  assert.equal(atob(writes[0].content), `GREETING=hi\nPORT=9000\nTOKEN=${TOKEN}\n`);
});

Deno.test("the stack operations declare their template secrets, and audit filled files by digest", () => {
  const deploy = stackDeploy([STACK]);
  assert.deepEqual(catalogSecrets([deploy, stackDiff([STACK])]).map((s) => s.source), [
    "env:SHOP_TOKEN",
  ]);
  const audited = JSON.stringify(
    deploy.auditArgs!(deploy.input.parse({ stack: "shop", variables: { greeting: "hi" } })),
  );
  assert.ok(!audited.includes(TOKEN), audited);
  assert.match(audited, /"rendered":\[\{"name":"app.env","sha256":"[0-9a-f]{64}","bytes":\d+\}/);
  assert.match(audited, /"variables":\{"greeting":"hi"\}/);
});

Deno.test("a stack file's diff masks the template's secret on both sides", () => {
  const files = deployedFiles(STACK, { greeting: "hi" });
  const current = `GREETING=old\nPORT=8080\nTOKEN=${TOKEN}\n`;
  const [app] = describeStackFiles(files, [{
    ok: true,
    result: {
      kind: "fs_read",
      path: "/srv/shop/app.env",
      content: current,
      encoding: "utf-8",
      size: current.length,
      truncated: false,
    } as never,
  }]);
  assert.equal(app.secrets_masked, true);
  assert.equal(app.would_change, true);
  assert.ok(!JSON.stringify(app).includes(TOKEN));
  assert.match(app.diff as string, /-GREETING=old\n\+GREETING=hi\n PORT=8080\n TOKEN=\[REDACTED\]/);
});
