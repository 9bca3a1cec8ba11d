/**
 * file_write templates through the real gateway (launcher-derived
 * permissions, the official SDK client over Streamable HTTP), on the local
 * target (`--templates DIR`) and over real sshd (`TAILOPS_TEMPLATES`): typed
 * variables checked before the gate, values filled as data (never as
 * template code), and a secret variable that reaches the file but nothing
 * else — not results, dry-run diffs, errors, the audit log or the gateway's
 * log, in clear or base64, hex or percent-encoded. Loading refuses templates
 * that reach outside their directory or use any syntax but `{{variable}}`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, runCli, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, type Entry } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { assertNoSecretForms, secretForms } from "./_secret_forms.ts";

type Client = Awaited<ReturnType<typeof connectHttp>>;

/** The secret: characters that base64, hex and percent-encoding all change. */
const SECRET = "Tk-9f/3+a=Zq&x%7Ey!Secret42";

const encodings = secretForms;

/** Fails when `text` holds the secret in any form. */
function assertNoSecret(text: string, where: string): void {
  assertNoSecretForms(text, SECRET, where);
}

const TEMPLATES: Record<string, string> = {
  "app_env.yaml": `version: 1
name: app_env
description: The application's environment file.
variables:
  app_name: { type: string, pattern: "[A-Za-z0-9 {}$%._-]{1,64}", description: Display name }
  port: { type: integer, min: 1, max: 65535, default: 8080 }
  debug: { type: boolean, default: false }
  api_token: { type: secret, from: "\${APP_API_TOKEN}" }
source: app_env.tmpl
`,
  "app_env.tmpl": "APP={{app_name}}\nPORT={{port}}\nDEBUG={{debug}}\nTOKEN={{api_token}}\n",
  // Alerting rules are Go templates themselves: their "{{" is written as {{"{{"}}.
  "alerts.yaml": `version: 1
name: alerts
description: An alerting rule whose annotations are Go templates.
variables:
  summary: { type: string, pattern: '[^\\n]{1,80}' }
  api_token: { type: secret, from: "\${APP_API_TOKEN}" }
body: |
  summary: {{"{{"}} $labels.instance }} {{summary}}
  raw: {{"{{"}}api_token}} {{"{{"}}"{{"{{"}}"}}
  token: {{api_token}}
`,
};

/** One call's whole answer (text and structured) as the client saw it. */
async function callRaw(
  client: Client,
  args: Record<string, unknown>,
): Promise<{ raw: string; isError: boolean; entry?: Entry }> {
  const result = await client.callTool({ name: "file_write", arguments: args });
  const structured = result.structuredContent as { results?: Entry[] } | undefined;
  return {
    raw: JSON.stringify(result),
    isError: result.isError === true,
    entry: structured?.results?.[0],
  };
}

async function story(
  t: Deno.TestContext,
  client: Client,
  target: string,
  dir: string,
): Promise<void> {
  const file = `${dir}/app.env`;
  const base = { target, path: file, template: "app_env" };

  await t.step(
    `${target}: tools/list shows the template and its variables, not the secret`,
    async () => {
      const tool = (await client.listTools()).tools.find((tl) => tl.name === "file_write");
      const props = tool?.inputSchema.properties as Record<string, { description?: string }>;
      assert.ok(props.template && props.variables, JSON.stringify(props));
      assert.match(props.template.description ?? "", /app_env\(app_name: string, port: integer\?/);
      assert.ok(!(props.template.description ?? "").includes("api_token"));
      assertNoSecret(JSON.stringify(tool), "tools/list");
    },
  );

  await t.step(`${target}: dry run shows the filled diff with the secret masked`, async () => {
    const dry = await callRaw(client, { ...base, variables: { app_name: "shop" }, dry_run: true });
    const check = (dry.entry?.plan as { check: { diff: string; secrets_masked: boolean } }).check;
    assert.equal(
      check.diff,
      `--- /dev/null\n+++ ${file}\n@@ -0,0 +1,4 @@\n+APP=shop\n+PORT=8080\n+DEBUG=false\n` +
        "+TOKEN=[REDACTED]\n",
    );
    assert.equal(check.secrets_masked, true);
    assertNoSecret(dry.raw, "dry run");
    await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
  });

  await t.step(`${target}: the write puts the secret in the file and nowhere else`, async () => {
    const done = await callRaw(client, { ...base, variables: { app_name: "shop", port: 9090 } });
    assert.equal(done.entry?.status, "ok", done.raw);
    assert.equal(
      await Deno.readTextFile(file),
      `APP=shop\nPORT=9090\nDEBUG=false\nTOKEN=${SECRET}\n`,
    );
    assertNoSecret(done.raw, "write result");
    const dry = await callRaw(client, { ...base, variables: { app_name: "shop" }, dry_run: true });
    const diff = (dry.entry?.plan as { check: { diff: string } }).check.diff;
    assert.match(diff, /\n-PORT=9090\n\+PORT=8080\n/);
    assertNoSecret(dry.raw, "dry run of a change");
  });

  await t.step(
    `${target}: values are data: template syntax and references in them stay text`,
    async () => {
      const done = await callRaw(client, {
        ...base,
        variables: { app_name: "{{api_token}} ${APP_API_TOKEN} %s {{port}}" },
      });
      assert.equal(done.entry?.status, "ok", done.raw);
      const text = await Deno.readTextFile(file);
      assert.match(text, /^APP=\{\{api_token\}\} \$\{APP_API_TOKEN\} %s \{\{port\}\}\nPORT=8080\n/);
      assert.equal(text.split(SECRET).length, 2, "the secret is filled once, for TOKEN only");
      assertNoSecret(done.raw, "injection result");
    },
  );

  await t.step(
    `${target}: {{"{{"}} writes a literal "{{" never filled, not with the secret, not twice`,
    async () => {
      const alerts = { target, path: `${dir}/alerts.yml`, template: "alerts" };
      for (const summary of ['{{"{{"}}api_token}}', "{{api_token}}", "{", '{{"{{"}}']) {
        const done = await callRaw(client, { ...alerts, variables: { summary } });
        assert.equal(done.entry?.status, "ok", done.raw);
        assert.equal(
          await Deno.readTextFile(`${dir}/alerts.yml`),
          `summary: {{ $labels.instance }} ${summary}\nraw: {{api_token}} {{"{{"}}\n` +
            `token: ${SECRET}\n`,
        );
        assertNoSecret(done.raw, "escaped write");
      }
      const dry = await callRaw(client, { ...alerts, variables: { summary: "x" }, dry_run: true });
      const diff = (dry.entry?.plan as { check: { diff: string } }).check.diff;
      assert.match(diff, /^\+summary: \{\{ \$labels\.instance \}\} x$/m);
      assert.match(diff, /^ token: \[REDACTED\]$/m);
      assertNoSecret(dry.raw, "escaped dry run");
    },
  );

  await t.step(
    `${target}: bad variables are refused before the gate, naming the variable`,
    async () => {
      for (
        const [variables, pattern] of [
          [{ app_name: "shop", port: "80; rm -rf /" }, /variables\.port/],
          [{ app_name: "shop", port: 70000 }, /variables\.port|70000|65535/],
          [{ app_name: "shop\nTOKEN=stolen" }, /variables\.app_name/],
          [{ app_name: "shop", api_token: "mine" }, /api_token/],
          [{ app_name: "shop", extra: "x" }, /extra/],
        ] as const
      ) {
        const refused = await callRaw(client, { ...base, variables });
        assert.equal(refused.isError, true, refused.raw);
        assert.match(refused.raw, pattern);
        assertNoSecret(refused.raw, "refusal");
      }
      const both = await callRaw(client, { ...base, content: "x", variables: { app_name: "a" } });
      assert.match(both.raw, /exactly one of \\"content\\" or \\"template\\"/);
      const unknown = await callRaw(client, { target, path: file, template: "../../etc/passwd" });
      assert.equal(unknown.isError, true);
    },
  );

  await t.step(
    `${target}: encoded echoes of the secret in the current file are redacted from the diff`,
    async () => {
      const forms = encodings(SECRET);
      await Deno.writeTextFile(
        file,
        `B64=${forms.base64}\nHEX=${forms.hex}\nPCT=${forms.percent}\nRAW=${SECRET}\n`,
      );
      const dry = await callRaw(client, {
        ...base,
        variables: { app_name: "shop" },
        dry_run: true,
      });
      const diff = (dry.entry?.plan as { check: { diff: string } }).check.diff;
      assert.match(diff, /^-B64=/m);
      assert.match(diff, /^-RAW=\[REDACTED\]$/m);
      assertNoSecret(dry.raw, "diff against encoded echoes");
    },
  );

  await t.step(`${target}: a failed write's error holds no secret`, async () => {
    const failed = await callRaw(client, {
      ...base,
      path: `${dir}/missing/app.env`,
      variables: { app_name: "shop" },
    });
    assert.equal(failed.entry?.status, "failed", failed.raw);
    assertNoSecret(failed.raw, "error");
    const guarded = await callRaw(client, {
      ...base,
      variables: { app_name: "shop" },
      expected_sha256: "0".repeat(64),
    });
    assert.equal(guarded.entry?.status, "failed", guarded.raw);
    assertNoSecret(guarded.raw, "digest mismatch");
  });
}

async function checkAuditAndLog(auditFile: string, stderr: string): Promise<void> {
  const audit = await Deno.readTextFile(auditFile);
  assertNoSecret(audit, "audit log");
  assertNoSecret(stderr, "gateway log");
  const decided = audit.split("\n").filter((l) => l.includes('"file_write"'))
    .map((l) => JSON.parse(l)).find((r) => r.args?.template === "app_env");
  assert.ok(decided, "a decided record of a template write");
  assert.match(decided.args.rendered.sha256, /^[0-9a-f]{64}$/);
  assert.equal(typeof decided.args.rendered.bytes, "number");
}

Deno.test({
  name:
    "file_write fills templates on the local target (--templates) and keeps their secret out of every answer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const templates = await tempDirWith(TEMPLATES);
    const root = await tempDirWith();
    try {
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: local
    type: local
    capabilities: [file:write]
    files: { write_roots: [${root}] }
`,
        policy: ALLOW_ALL_POLICY,
        flags: ["--templates", templates],
        env: { APP_API_TOKEN: SECRET },
      });
      const client = await connectHttp(gateway);
      try {
        await story(t, client, "local", root);
      } finally {
        await client.close();
      }
      await gateway.stop();
      await checkAuditAndLog(gateway.auditFile, gateway.stderr());
    } finally {
      await Deno.remove(templates, { recursive: true });
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "file_write fills templates over real sshd (TAILOPS_TEMPLATES) and keeps their secret out of every answer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const templates = await tempDirWith(TEMPLATES);
    let fleet: Fleet | undefined;
    let dir: string | undefined;
    try {
      fleet = await startFleet({
        instances: 1,
        targets: (filesDir) => {
          dir = `${filesDir}/w`;
          return [{ id: "web-1", instance: 0, capabilities: ["file:write"], writeRoots: [dir] }];
        },
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_TEMPLATES: templates, APP_API_TOKEN: SECRET },
      });
      await Deno.mkdir(dir!);
      await Deno.chmod(dir!, 0o777);
      await story(t, fleet.client, "web-1", dir!);
      await fleet.gateway.stop();
      await checkAuditAndLog(fleet.gateway.auditFile, fleet.gateway.stderr());
    } finally {
      await fleet?.close();
      await Deno.remove(templates, { recursive: true });
    }
  },
});

Deno.test("check-config refuses templates that reach outside their directory or use other syntax, at FILE:LINE:COLUMN", async () => {
  const outside = await tempDirWith({ "passwd": "root:x:0:0\n" });
  const dir = await tempDirWith({
    "up.yaml": "version: 1\nname: up\ndescription: d\nsource: ../passwd\n",
    "abs.yaml": "version: 1\nname: abs\ndescription: d\nsource: /etc/passwd\n",
    "link.yaml": "version: 1\nname: link\ndescription: d\nsource: link.tmpl\n",
    "include.yaml": 'version: 1\nname: include\ndescription: d\nbody: "a {{> /etc/passwd}} b"\n',
    "expr.yaml": 'version: 1\nname: expr\ndescription: d\nbody: "{{ include \\"x\\" }}"\n',
    "unknown.yaml": 'version: 1\nname: unknown\ndescription: d\nbody: "{{nope}}"\n',
    // In a `|` block and in a body file, a malformed placeholder is shown at its own line and
    // column; near misses of the escape {{"{{"}} are malformed too.
    "block.yaml":
      'version: 1\nname: block\ndescription: d\nbody: |\n  ok {{"{{"}}\n  bad {{ x }}\n',
    "near.yaml": "version: 1\nname: near\ndescription: d\nsource: near.tmpl\n",
    "near.tmpl": 'a\nb {{"{{"}\nc {{"{{"}}"{{"}} {{\'{{\'}}\n',
    "short.yaml":
      'version: 1\nname: short\ndescription: d\nvariables:\n  s: { type: secret, from: "${SHORT_SECRET}" }\nbody: "{{s}}"\n',
    "literal.yaml":
      'version: 1\nname: literal\ndescription: d\nvariables:\n  s: { type: secret, from: "hunter2hunter2" }\nbody: "{{s}}"\n',
  });
  await Deno.symlink(`${outside}/passwd`, `${dir}/link.tmpl`);
  await Deno.writeTextFile(
    `${dir}/hard.yaml`,
    "version: 1\nname: hard\ndescription: d\nsource: hard.tmpl\n",
  );
  await Deno.link(`${outside}/passwd`, `${dir}/hard.tmpl`);
  try {
    const run = await runCli(["check-config", "--templates", dir], {
      env: { SHORT_SECRET: "abc" },
    });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.ownStderr.join("\n");
    for (
      const pattern of [
        new RegExp(`${dir}/up\\.yaml:4:9: Invalid source`),
        new RegExp(`${dir}/abs\\.yaml:4:9: Invalid source`),
        new RegExp(
          `${dir}/link\\.yaml:4:9: Cannot use source "link\\.tmpl": it is a symbolic link`,
        ),
        new RegExp(
          `${dir}/hard\\.yaml:4:9: Cannot use source "hard\\.tmpl": it has other hard links`,
        ),
        new RegExp(`${dir}/include\\.yaml:4:7: Invalid template syntax "\\{\\{> /etc/passwd`),
        new RegExp(`${dir}/expr\\.yaml:4:7: Invalid template syntax`),
        new RegExp(`${dir}/unknown\\.yaml:4:7: Unknown variable "nope"`),
        new RegExp(`${dir}/block\\.yaml:6:7: Invalid template syntax "\\{\\{ x \\}\\}"`),
        new RegExp(`${dir}/near\\.tmpl:2:3: Invalid template syntax`),
        new RegExp(`${dir}/near\\.tmpl:3:12: Invalid template syntax`),
        new RegExp(`${dir}/near\\.tmpl:3:18: Invalid template syntax`),
        new RegExp(`${dir}/short\\.yaml:5:\\d+: Invalid secret for "s": expected at least 8`),
        new RegExp(`${dir}/literal\\.yaml:5:\\d+: Invalid secret reference`),
      ]
    ) {
      assert.match(lines, pattern);
    }
    assert.ok(!lines.includes("root:x:0:0"), "the outside file is never shown");
    assert.ok(!lines.includes("hunter2"), "a literal secret is never echoed");
    assert.ok(!/\babc\b/.test(lines), "a short secret is never echoed");
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
