import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadStacks } from "../../src/config/stacks_load.ts";
import { ConfigError } from "../../src/config/errors.ts";

const SHIPPED = fileURLToPath(new URL("../../stacks", import.meta.url));

async function stacksWith(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-stacks-" });
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(`${dir}/${path.replace(/\/[^/]*$/, "")}`, { recursive: true });
    await Deno.writeTextFile(`${dir}/${path}`, content);
  }
  return dir;
}

async function problemsOf(dir: string): Promise<string[]> {
  try {
    await loadStacks(dir);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map((p) => p.message);
  }
  return [];
}

Deno.test("the shipped monitoring stack loads: its services, pulled only when missing, no warnings", async () => {
  const [monitoring] = await loadStacks(SHIPPED);
  assert.equal(monitoring.name, "monitoring");
  assert.deepEqual(monitoring.files.map((f) => f.name), [
    "compose.yaml",
    "exporter.sh",
    "probe.env",
  ]);
  assert.deepEqual(monitoring.services.map((s) => [s.name, s.image, s.build, s.pullPolicy]), [
    ["exporter", "busybox:1.36", false, "if_not_present"],
    ["probe", "busybox:1.36", false, "if_not_present"],
  ]);
  assert.deepEqual(monitoring.warnings, []);
});

Deno.test("a pull_policy compose does not know is refused at load; the known ones load", async () => {
  const service = (policy: string) =>
    `services:\n  a:\n    image: x:1\n    pull_policy: ${policy}\n`;
  const dir = await stacksWith({
    "typo/compose.yaml": service("if-not-present"),
    "list/compose.yaml": service("[always]"),
    "shell/compose.yaml": service('"always; true"'),
    ...Object.fromEntries(
      ["always", "never", "missing", "if_not_present", "build", "daily", "weekly", "every_12h"]
        .map((p) => [`ok-${p.replace(/_/g, "-")}/compose.yaml`, service(p)]),
    ),
  });
  try {
    const problems = await problemsOf(dir);
    assert.deepEqual(problems.map((p) => p.replace(/^.*\/([a-z]+)\/compose\.yaml": /, "$1: ")), [
      'list: service "a": expected pull_policy always, never, missing, if_not_present, build, ' +
      'daily, weekly or every_DURATION, found ["always"]',
      'shell: service "a": expected pull_policy always, never, missing, if_not_present, build, ' +
      'daily, weekly or every_DURATION, found "always; true"',
      'typo: service "a": expected pull_policy always, never, missing, if_not_present, build, ' +
      'daily, weekly or every_DURATION, found "if-not-present"',
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stack and file names that could leave the directory or hide are refused at load", async () => {
  const dir = await stacksWith({
    "a..b/compose.yaml": "services: {}\n",
    "Upper/compose.yaml": "services: {}\n",
    "ok/compose.yaml": "services: {}\n",
    "ok/.env": "X=1\n",
    "ok/-rf": "x\n",
  });
  await Deno.mkdir(`${dir}/\u00e9t\u00e9`);
  await Deno.symlink(`${dir}/ok`, `${dir}/linked`);
  await Deno.symlink("/etc/passwd", `${dir}/ok/passwd`);
  try {
    const problems = await problemsOf(dir);
    const about = (name: string) => problems.filter((p) => p.includes(name));
    assert.equal(about('/a..b"').length, 1, problems.join("\n"));
    assert.equal(about('/Upper"').length, 1);
    assert.equal(about('/\u00e9t\u00e9"').length, 1);
    assert.equal(about('/ok/.env"').length, 1);
    assert.equal(about('/ok/-rf"').length, 1);
    assert.match(about('/ok/passwd"')[0], /expected a regular file/);
    assert.match(about('/linked"')[0], /expected a directory, found a symlink/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a compose file that is not YAML or has no services is refused; host reach is listed", async () => {
  const dir = await stacksWith({
    "broken/compose.yaml": "services: [\n",
    "empty/compose.yaml": "version: '3'\n",
    "risky/compose.yml": [
      "services:",
      "  a:",
      "    image: x",
      "    privileged: true",
      "    pid: host",
      "    cap_add: [SYS_ADMIN]",
      "    volumes:",
      "      - type: bind",
      "        source: //",
      "        target: /host",
      "      - /srv/data:/data",
      "      - /srv/../.:/also-root",
      "      - ./conf:/conf",
      "",
    ].join("\n"),
  });
  try {
    const problems = await problemsOf(dir);
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.match(problems[0], /broken\/compose\.yaml": expected YAML/);
    assert.match(problems[1], /empty\/compose\.yaml": expected a "services" mapping/);
    await Deno.remove(`${dir}/broken`, { recursive: true });
    await Deno.remove(`${dir}/empty`, { recursive: true });
    const [risky] = await loadStacks(dir);
    assert.deepEqual(risky.warnings, [
      'service "a": privileged: true (full access to the host)',
      'service "a": pid: host (shares the host\'s namespace)',
      'service "a": cap_add: SYS_ADMIN',
      'service "a": mounts the host\'s root directory /',
      'service "a": mounts the host path /srv/data',
      'service "a": mounts the host\'s root directory /',
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the shipped monitoring stack's probe.env is an env template with an integer interval", async () => {
  const [monitoring] = await loadStacks(SHIPPED);
  const probe = monitoring.files.find((f) => f.name === "probe.env");
  assert.ok(probe && "template" in probe, "probe.env is rendered from a template");
  assert.deepEqual(Object.keys(probe.template.variables), ["interval"]);
  assert.match(probe.template.body, /^INTERVAL=\{\{interval\}\}$/m);
});

Deno.test("a stack's env template renders NAME; its source file is its body, not a file of its own", async () => {
  const dir = await stacksWith({
    "app/compose.yaml": "services: {}\n",
    "app/app.env.tailops-template.yaml":
      "version: 1\ndescription: d\nvariables:\n  port: { type: integer, max: 65535 }\nsource: app.env.in\n",
    "app/app.env.in": "PORT={{port}}\n",
  });
  try {
    const [app] = await loadStacks(dir);
    assert.deepEqual(app.files.map((f) => [f.name, "template" in f]), [
      ["app.env", true],
      ["compose.yaml", false],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("env template problems are refused at load at FILE:LINE:COLUMN, every one of every stack", async () => {
  const t = (body: string, vars = "") =>
    `version: 1\ndescription: d\nvariables:\n${
      vars || "  x: { type: integer }\n"
    }body: "${body}"\n`;
  const dir = await stacksWith({
    "comp/compose.yaml": "services: {}\n",
    "comp/compose.yaml.tailops-template.yaml": t("services: {{x}}"),
    "clash/compose.yaml": "services: {}\n",
    "clash/app.env": "X=1\n",
    "clash/app.env.tailops-template.yaml": t("X={{x}}"),
    "syntax/compose.yaml": "services: {}\n",
    "syntax/app.env.tailops-template.yaml": t("X={{x}} {{> /etc/passwd}}"),
    "unknown/compose.yaml": "services: {}\n",
    "unknown/app.env.tailops-template.yaml": t("X={{x}} {{nope}}"),
    "shared/compose.yaml": "services: {}\n",
    "shared/a.env.tailops-template.yaml": t("P={{port}}", "  port: { type: integer }\n"),
    "shared/b.env.tailops-template.yaml": t(
      "P={{port}}",
      "  port: { type: string, pattern: '[0-9]+' }\n",
    ),
    "named/compose.yaml": "services: {}\n",
    "named/app.env.tailops-template.yaml": `name: app\n${t("X={{x}}")}`,
    "secret/compose.yaml": "services: {}\n",
    "secret/app.env.tailops-template.yaml": t(
      "T={{token}}",
      "  token: { type: secret, from: '${TAILOPS_T9_UNSET_SECRET}' }\n",
    ),
    "source/compose.yaml": "services: {}\n",
    "source/app.env.tailops-template.yaml": "version: 1\ndescription: d\nsource: compose.yaml\n",
  });
  try {
    let message = "";
    try {
      await loadStacks(dir);
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      message = error.message;
    }
    const line = (pattern: RegExp) => {
      const found = message.split("\n").filter((l) => pattern.test(l));
      assert.equal(found.length, 1, `${pattern}:\n${message}`);
      return found[0];
    };
    const at = (stack: string) =>
      new RegExp(`^${dir}/${stack}/[a-z.]+\\.tailops-template\\.yaml:\\d+:\\d+: `);
    assert.match(line(/the compose file cannot be a template/), at("comp"));
    assert.match(line(/the stack also has a file of that name/), at("clash"));
    assert.match(line(/Invalid template syntax "\{\{> \/etc\/passwd/), at("syntax"));
    assert.match(line(/Unknown variable "nope"/), at("unknown"));
    assert.match(line(/"port" is declared differently in template "a.env"/), at("shared"));
    assert.match(line(/Unknown key "name"/), at("named"));
    assert.match(line(/TAILOPS_T9_UNSET_SECRET is not set/), at("secret"));
    assert.match(line(/Invalid source "compose.yaml": it is the compose file/), at("source"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an env template's secret is resolved at load, refused when short, never echoed", async () => {
  const dir = await stacksWith({
    "app/compose.yaml": "services: {}\n",
    "app/app.env.tailops-template.yaml":
      "version: 1\ndescription: d\nvariables:\n  token: { type: secret, from: '${TAILOPS_T9_SECRET}' }\nbody: 'T={{token}}'\n",
  });
  try {
    const unresolved = await loadStacks(dir, { resolveSecrets: false });
    const file = unresolved[0].files[0];
    assert.ok("template" in file);
    const token = file.template.variables.token;
    assert.equal(token.type === "secret" && token.from.resolved, false);
    Deno.env.set("TAILOPS_T9_SECRET", "short7!");
    const problems = await problemsOf(dir);
    assert.equal(problems.length, 1, problems.join("\n"));
    assert.match(problems[0], /expected at least 8 characters/);
    assert.ok(!problems[0].includes("short7!"));
    Deno.env.set("TAILOPS_T9_SECRET", "long-enough-secret");
    const [app] = await loadStacks(dir);
    const loaded = app.files[0];
    assert.ok("template" in loaded && loaded.template.variables.token.type === "secret");
    assert.equal(loaded.template.variables.token.from.reveal(), "long-enough-secret");
  } finally {
    Deno.env.delete("TAILOPS_T9_SECRET");
    await Deno.remove(dir, { recursive: true });
  }
});
