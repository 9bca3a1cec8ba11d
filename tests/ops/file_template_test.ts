import assert from "node:assert/strict";
import { maskSecrets, renderTemplate, variablesSchema } from "../../src/ops/_file_template.ts";
import type { Template } from "../../src/config/templates_load.ts";
import { Secret } from "../../src/config/secret.ts";
import { fileWriteWith } from "../../src/ops/file_write.ts";
import { parseTargets } from "../../src/config/load.ts";

function template(secret = new Secret("env:T", "s3cret-value-1")): Template {
  return {
    name: "t",
    description: "d",
    file: "t.yaml",
    variables: {
      who: {
        type: "string",
        pattern: "[^\\n]{1,80}",
        max_length: 80,
        optional: false,
        description: "",
      },
      n: { type: "integer", min: 0, max: 9, default: 3, optional: false, description: "" },
      token: { type: "secret", from: secret, description: "" },
    },
    body: "who={{who}} n={{n}} token={{token}}\n",
  };
}

Deno.test("renderTemplate() fills in one pass: a value holding {{token}} stays that text", () => {
  const values = variablesSchema(template()).parse({ who: "{{token}} {{n}}" });
  const { text, secrets } = renderTemplate(template(), values);
  assert.equal(text, "who={{token}} {{n}} n=3 token=s3cret-value-1\n");
  assert.deepEqual(secrets, ["s3cret-value-1"]);
});

Deno.test("variablesSchema() never takes a secret from the caller, and checks types", () => {
  const schema = variablesSchema(template());
  assert.equal(schema.safeParse({ who: "a", token: "mine" }).success, false);
  assert.equal(schema.safeParse({ who: "a", n: 10 }).success, false);
  assert.equal(schema.safeParse({ who: "a\nb" }).success, false);
  assert.equal(schema.safeParse({ who: "-a" }).success, false);
  assert.equal(schema.safeParse({ who: "a" }).success, true);
});

Deno.test("renderTemplate() refuses an unresolved secret without naming a value", () => {
  assert.throws(
    () => renderTemplate(template(new Secret("env:T")), { who: "a", n: 1 }),
    /secret "token" was not resolved at start/,
  );
});

Deno.test("maskSecrets() masks the longest secret first, so one holding another goes whole", () => {
  assert.equal(
    maskSecrets("a=abcdefgh-long b=abcdefgh", ["abcdefgh", "abcdefgh-long"]),
    "a=[REDACTED] b=[REDACTED]",
  );
});

Deno.test("file_write with templates: the audit keeps the filled text's digest, never the secret", async () => {
  const op = fileWriteWith([template()]);
  const args = op.input.parse({ path: "/srv/a.env", template: "t", variables: { who: "x" } });
  const audited = JSON.stringify(op.auditArgs!(args));
  assert.ok(!audited.includes("s3cret-value-1"), audited);
  assert.match(audited, /"rendered":\{"sha256":"[0-9a-f]{64}","bytes":\d+\}/);
  const registry = await parseTargets(
    "version: 1\ntargets:\n  - id: l\n    type: local\n    capabilities: [file:write]\n    files: { write_roots: [/srv] }\n",
    "t.yaml",
  );
  const plan = op.plan(args, registry.get("l")!);
  assert.equal(plan.kind, "fs_write");
  assert.equal(
    atob((plan as { content: string }).content),
    "who=x n=3 token=s3cret-value-1\n",
  );
  assert.equal(op.input.safeParse({ path: "/srv/a", template: "t", content: "x" }).success, false);
  assert.equal(op.input.safeParse({ path: "/srv/a", template: "nope" }).success, false);
});

Deno.test('renderTemplate() writes {{"{{"}} as a literal "{{" that is never filled, not even with a secret', () => {
  const escaped: Template = {
    ...template(),
    body:
      'rule: {{"{{"}} $labels.instance }}\nraw={{"{{"}}token}}\nwho={{who}} n={{n}} t={{token}}\n',
  };
  const values = variablesSchema(escaped).parse({ who: "a" });
  const { text } = renderTemplate(escaped, values);
  assert.equal(
    text,
    "rule: {{ $labels.instance }}\nraw={{token}}\nwho=a n=3 t=s3cret-value-1\n",
  );
  // The secret appears once: where the body fills it, never where an escape wrote "{{token}}".
  assert.equal(text.split("s3cret-value-1").length, 2);
});

Deno.test("renderTemplate() never fills twice: values and escapes that rebuild a placeholder stay text", () => {
  const smuggle: Template = {
    ...template(),
    variables: {
      ...template().variables,
      open: {
        type: "string",
        pattern: "[^\\n]{0,80}",
        max_length: 80,
        optional: false,
        description: "",
      },
    },
    // A value "{" or "{{" before text that completes a placeholder; an escape before a name.
    body: '{{open}}{token}} {{open}}token}} {{"{{"}}{{who}}}} {{n}} {{token}}\n',
  };
  for (const open of ["{", "{{", '{{"{{"}}', "{{token}}"]) {
    for (const who of ["token", "token}}", '{{"{{"}}token']) {
      const values = variablesSchema(smuggle).parse({ open, who });
      const { text } = renderTemplate(smuggle, values);
      const expected = `${open}{token}} ${open}token}} {{${who}}} 3 s3cret-value-1\n`;
      assert.equal(text, expected, `${open} ${who}`);
      assert.equal(text.split("s3cret-value-1").length, 2, text);
    }
  }
});
