import assert from "node:assert/strict";
import { ConfigError, formatProblem } from "../../src/config/errors.ts";
import { loadTemplates } from "../../src/config/templates_load.ts";

/** A templates directory holding these files; removed by the caller. */
async function templatesWith(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-templates-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return dir;
}

/** Every problem loading the directory reports, as check-config prints them. */
async function problemsOf(dir: string): Promise<string[]> {
  try {
    await loadTemplates(dir, { resolveSecrets: false });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.problems.map(formatProblem);
  }
  return [];
}

const HEAD = "version: 1\nname: NAME\ndescription: d\nvariables:\n  port: { type: integer }\n";
const head = (name: string) => HEAD.replace("NAME", name);

Deno.test('a body may write a literal "{{" as {{"{{"}}; the escape does not count as using a variable', async () => {
  const dir = await templatesWith({
    "alerts.yaml": head("alerts") +
      'body: |\n  port: {{port}}\n  summary: {{"{{"}} $labels.instance }} is down\n',
    "unused.yaml": head("unused") + 'body: "only {{\\"{{\\"}}port}} here\\n"\n',
  });
  try {
    const problems = await problemsOf(dir);
    assert.deepEqual(problems, [
      `${dir}/unused.yaml:6:7: Variable "port" is never used in the body (at body)`,
    ]);
    await Deno.remove(`${dir}/unused.yaml`);
    const [alerts] = await loadTemplates(dir, { resolveSecrets: false });
    assert.equal(alerts.body, 'port: {{port}}\nsummary: {{"{{"}} $labels.instance }} is down\n');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("malformed placeholders and near-miss escapes are reported at their own FILE:LINE:COLUMN", async () => {
  const dir = await templatesWith({
    // An inline `|` block: each body line is a file line, after two spaces of indentation.
    "inline.yaml": head("inline") +
      "body: |\n  port={{port}}\n  a={{ port }}\n\n  b={{\"{{\"}\n  c={{'{{'}} d={{nope}}\n",
    // A body file: positions are in that file.
    "from_file.yaml": head("from_file") + "source: from_file.tmpl\n",
    "from_file.tmpl": 'port={{port}}\nx={{{{"{{"}}\n  {{"{{"}}"{{"}}\n{{> /etc/passwd}}\n',
    // A quoted inline body does not map line for line: the problem is shown at the body key.
    "quoted.yaml": head("quoted") + 'body: "p={{port}} {{ include \\"x\\" }}"\n',
  });
  try {
    const problems = await problemsOf(dir);
    const syntax = (found: string) =>
      `Invalid template syntax ${JSON.stringify(found)}: expected {{variable}}, or ` +
      '{{"{{"}} for a literal "{{" (templates have no includes, expressions or other syntax)';
    assert.deepEqual(problems.map((p) => p.replace(`${dir}/`, "")), [
      `from_file.tmpl:2:3: ${syntax('{{{{"{{"}}')} (at source)`,
      `from_file.tmpl:3:12: ${syntax('{{"}}')} (at source)`,
      `from_file.tmpl:4:1: ${syntax("{{> /etc/passwd}}")} (at source)`,
      `inline.yaml:8:5: ${syntax("{{ port }}")} (at body)`,
      `inline.yaml:10:5: ${syntax('{{"{{"}')} (at body)`,
      `inline.yaml:11:5: ${syntax("{{'{{'}} d={{nope}}")} (at body)`,
      'inline.yaml:11:16: Unknown variable "nope" in the body (at body)',
      // A quoted inline body does not map line for line: shown at the body key.
      `quoted.yaml:6:7: ${syntax('{{ include "x" }}')} (at body)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
