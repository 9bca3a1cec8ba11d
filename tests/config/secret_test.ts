import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parseTargets } from "../../src/config/load.ts";
import {
  findSecrets,
  Secret,
  secretRefSchema,
  type SecretResolver,
} from "../../src/config/secret.ts";

const VALUE = "s3cr3t-Value-that-must-never-leak";
const PIN = "SHA256:Yt3v9kq0mB6n1uQz7wRr2PcXg5sHd8LfJ4aE0oVtKiM";

/** A resolver over fixed env vars and files; records what was read. */
function fakeResolver(
  env: Record<string, string>,
  files: Record<string, string> = {},
): SecretResolver & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    env: (name) => {
      reads.push(`env:${name}`);
      return env[name];
    },
    readFile: (path) => {
      reads.push(`file:${path}`);
      return path in files
        ? Promise.resolve(files[path])
        : Promise.reject(new Deno.errors.NotFound(`no such file ${path}`));
    },
  };
}

const registryText = `targets:
  - id: web
    type: ssh
    capabilities: [system:read]
    connection:
      host: web
      user: ops
      key: file:/keys/web
      passphrase: \${WEB_PASSPHRASE}
      host_key: "${PIN}"
  - id: api
    type: http
    capabilities: [http:read]
    connection:
      base_url: https://api.example.com
      auth:
        bearer: \${API_TOKEN}
`;

Deno.test("secretRefSchema reads ${VAR} and file:/path as unresolved secrets", () => {
  const env = secretRefSchema.parse("${API_TOKEN}");
  assert.ok(env instanceof Secret);
  assert.equal(env.source, "env:API_TOKEN");
  assert.equal(env.resolved, false);
  const file = secretRefSchema.parse("file:/run/secrets/token");
  assert.equal(file.source, "file:/run/secrets/token");
  assert.throws(
    () => file.reveal(),
    /Cannot read secret from file:\/run\/secrets\/token: it has not been resolved/,
  );
});

Deno.test("secretRefSchema refuses literals and malformed references without echoing them", () => {
  for (const ref of ["hunter2", "$API_TOKEN", "${API TOKEN}", "${1X}", "file:relative", "file:"]) {
    const result = secretRefSchema.safeParse(ref);
    assert.equal(result.success, false, ref);
    const text = JSON.stringify(result.error?.issues);
    assert.match(text, /Invalid secret reference/);
    // "file:" alone is part of the message's own grammar text.
    if (ref !== "file:") assert.ok(!text.includes(ref), `${ref} is not in the issue`);
  }
});

Deno.test("an environment reference resolves to the variable's value", async () => {
  const secret = new Secret("env:API_TOKEN");
  await secret.resolve(fakeResolver({ API_TOKEN: VALUE }));
  assert.equal(secret.resolved, true);
  assert.equal(secret.reveal(), VALUE);
});

Deno.test("a file reference resolves to the file's content without its final newline", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(path, `${VALUE}\n`);
    const secret = secretRefSchema.parse(`file:${path}`);
    await secret.resolve();
    assert.equal(secret.reveal(), VALUE);
    await Deno.writeTextFile(path, "line one\nline two\r\n");
    await secret.resolve();
    assert.equal(secret.reveal(), "line one\nline two", "only one final newline is dropped");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("an unset or empty environment variable is an error naming the variable only", async () => {
  for (const env of [{}, { API_TOKEN: "" }] as Record<string, string>[]) {
    await assert.rejects(
      () => new Secret("env:API_TOKEN").resolve(fakeResolver(env)),
      /^Error: Cannot resolve secret: environment variable API_TOKEN is not set$/,
    );
  }
});

Deno.test("a missing file is an error naming the path and the reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      () => new Secret(`file:${dir}/absent`).resolve(),
      new RegExp(`Cannot resolve secret from file "${dir}/absent": the file does not exist`),
    );
  } finally {
    await Deno.remove(dir);
  }
});

Deno.test("parseTargets() resolves every secret through the injected resolver", async () => {
  const resolver = fakeResolver(
    { WEB_PASSPHRASE: "pass-" + VALUE, API_TOKEN: "token-" + VALUE },
    { "/keys/web": `key-${VALUE}\n` },
  );
  const registry = await parseTargets(registryText, "targets.yaml", {
    secrets: resolver,
    checkReferences: false,
  });
  assert.deepEqual(resolver.reads.sort(), [
    "env:API_TOKEN",
    "env:WEB_PASSPHRASE",
    "file:/keys/web",
  ]);
  const found = findSecrets(registry.targets);
  assert.deepEqual(found.map((f) => f.path.join(".")), [
    "0.connection.key",
    "0.connection.passphrase",
    "1.connection.auth.bearer",
  ]);
  assert.deepEqual(found.map((f) => f.secret.reveal()), [
    `key-${VALUE}`,
    `pass-${VALUE}`,
    `token-${VALUE}`,
  ]);
});

Deno.test("an unset variable and a missing file are reported at their lines, all at once", async () => {
  const error = await parseTargets(registryText, "targets.yaml", {
    secrets: fakeResolver({ WEB_PASSPHRASE: VALUE }),
  }).then(() => undefined, (e) => e);
  assert.ok(error instanceof ConfigError);
  assert.deepEqual(
    error.problems.map((p) =>
      `${p.position?.file}:${p.position?.line}:${p.position?.column} ${p.path}`
    ),
    [
      "targets.yaml:8:12 targets[0].connection.key",
      "targets.yaml:17:17 targets[1].connection.auth.bearer",
    ],
  );
  assert.match(
    error.problems[0].message,
    /Cannot resolve secret from file "\/keys\/web": the file does not exist/,
  );
  assert.match(error.problems[1].message, /environment variable API_TOKEN is not set/);
  assert.ok(!error.message.includes(VALUE));
});

Deno.test("resolveSecrets: false reads nothing", async () => {
  const resolver = fakeResolver({});
  const registry = await parseTargets(registryText, "targets.yaml", {
    secrets: resolver,
    resolveSecrets: false,
  });
  assert.deepEqual(resolver.reads, []);
  assert.ok(findSecrets(registry.targets).every((f) => !f.secret.resolved));
});

Deno.test("a resolved secret never shows its value in JSON, strings, templates or the inspector", async () => {
  const secret = new Secret("env:API_TOKEN");
  await secret.resolve(fakeResolver({ API_TOKEN: VALUE }));
  const shown = [
    JSON.stringify(secret),
    JSON.stringify({ nested: { secret } }),
    String(secret),
    `${secret}`,
    "" + secret,
    Deno.inspect(secret),
    Deno.inspect({ nested: [secret] }, { depth: 10, showHidden: true }),
    Deno.inspect(secret, { showHidden: true, depth: Infinity }),
    JSON.stringify({ ...secret }),
    Object.values(secret).join(","),
  ];
  for (const text of shown) {
    assert.ok(!text.includes(VALUE), `leaked in ${text}`);
  }
  assert.equal(String(secret), "<secret from API_TOKEN>");
  assert.equal(JSON.stringify(secret), '"<secret from API_TOKEN>"');
  assert.equal(Deno.inspect(secret), "<secret from API_TOKEN>");
  assert.equal(String(new Secret("file:/k", VALUE)), "<secret from file:/k>");
});

Deno.test("a whole resolved registry prints without any secret value", async () => {
  const registry = await parseTargets(registryText, "targets.yaml", {
    secrets: fakeResolver(
      { WEB_PASSPHRASE: VALUE, API_TOKEN: VALUE },
      { "/keys/web": VALUE },
    ),
    checkReferences: false,
  });
  for (
    const text of [
      JSON.stringify(registry.targets),
      Deno.inspect(registry, { depth: Infinity }),
      Deno.inspect(registry.targets, { depth: Infinity, showHidden: true }),
    ]
  ) {
    assert.ok(!text.includes(VALUE), text);
  }
  assert.match(JSON.stringify(registry.targets), /<secret from API_TOKEN>/);
});
