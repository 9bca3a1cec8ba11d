import assert from "node:assert/strict";
import { isSensitiveKey, redact, REDACTED, redactText, TRUNCATED } from "../../src/audit/redact.ts";
import { SecretScanner } from "../../src/audit/secret_scanner.ts";
import { Secret } from "../../src/config/secret.ts";

const PEM = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAAB",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

Deno.test("redact() replaces known secret values inside any string, nested anywhere", () => {
  const out = redact(
    { cmd: ["curl", "-u", "admin:hunter2-pass", "x"], env: { note: "pw hunter2-pass end" } },
    { secrets: ["hunter2-pass"] },
  );
  assert.deepEqual(out, {
    cmd: ["curl", "-u", `admin:${REDACTED}`, "x"],
    env: { note: `pw ${REDACTED} end` },
  });
});

Deno.test("redact() ignores secrets shorter than four characters", () => {
  assert.deepEqual(redact({ a: "abc abcd" }, { secrets: ["abc", "", "abcd"] }), {
    a: `abc ${REDACTED}`,
  });
});

Deno.test("redact() masks secrets in field names too", () => {
  assert.deepEqual(redact({ "tok-s3cr3tvalue": 1 }, { secrets: ["s3cr3tvalue"] }), {
    [`tok-${REDACTED}`]: 1,
  });
});

Deno.test("redact() replaces values under each sensitive key", () => {
  const keys = [
    "password",
    "passphrase",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "private_key",
    "client_secret",
    "X-Api-Key",
    "accessToken",
    "Set-Cookie",
    "DB_PASSWORD",
    "Proxy-Authorization",
  ];
  for (const key of keys) {
    assert.ok(isSensitiveKey(key), key);
    assert.deepEqual(redact({ [key]: "v4lue", n: { [key]: 1234 } }), {
      [key]: REDACTED,
      n: { [key]: REDACTED },
    });
  }
});

Deno.test("redact() leaves ordinary keys and booleans or nulls under sensitive keys alone", () => {
  for (const key of ["max_tokens", "keyboard", "monkey", "username", "unit", "key", "tokenizer"]) {
    assert.equal(isSensitiveKey(key), false, key);
  }
  assert.deepEqual(redact({ max_tokens: 5, key: "nginx", use_token: true, password: null }), {
    max_tokens: 5,
    key: "nginx",
    use_token: true,
    password: null,
  });
});

Deno.test("redact() replaces a whole object under a sensitive key", () => {
  assert.deepEqual(redact({ secrets: { a: "x", b: ["y"] } }), { secrets: REDACTED });
});

Deno.test("redact() replaces PEM text under a key field, even a certificate", () => {
  const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
  assert.deepEqual(redact({ key: cert, ssh_key: PEM, hostKey: "ssh-ed25519 AAAA" }), {
    key: REDACTED,
    ssh_key: REDACTED,
    hostKey: "ssh-ed25519 AAAA",
  });
  // Elsewhere a certificate is public and kept.
  assert.deepEqual(redact({ body: cert }), { body: cert });
});

Deno.test("redactText() masks PEM private key blocks and keeps the text around them", () => {
  assert.equal(redactText(`before\n${PEM}\nafter`), `before\n${REDACTED}\nafter`);
  const rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----";
  assert.equal(redactText(`${rsa} and ${PEM}`), `${REDACTED} and ${REDACTED}`);
});

Deno.test("redactText() masks a cut-off private key block to the end of the text", () => {
  assert.equal(redactText(`x ${PEM.slice(0, 60)}`), `x ${REDACTED}`);
});

Deno.test("redactText() masks Bearer tokens", () => {
  assert.equal(
    redactText("Authorization: Bearer eyJhbGciOi.J9-x_y~z+/abc== next"),
    `Authorization: Bearer ${REDACTED} next`,
  );
  assert.equal(redactText("bearer abc123"), `bearer ${REDACTED}`);
  assert.equal(redactText(redactText("Bearer abc123")), `Bearer ${REDACTED}`);
});

Deno.test("redact() returns a deep copy and leaves its input unchanged", () => {
  const input = { a: { password: "p4ssword" }, list: [{ x: 1 }] };
  const before = structuredClone(input);
  const out = redact(input) as typeof input;
  assert.deepEqual(input, before);
  assert.notEqual(out, input);
  assert.notEqual(out.list[0], input.list[0]);
});

Deno.test("redact() turns values JSON cannot hold into JSON", () => {
  const out = redact({
    big: 12n,
    nan: NaN,
    inf: -Infinity,
    gone: undefined,
    fn: () => 1,
    list: [undefined, () => 1],
    at: new Date(0),
    bytes: new Uint8Array(3),
  });
  assert.deepEqual(out, {
    big: "12",
    nan: "NaN",
    inf: "-Infinity",
    list: [null, null],
    at: "1970-01-01T00:00:00.000Z",
    bytes: "[BINARY 3 bytes]",
  });
});

Deno.test("redact() shows a config Secret as its placeholder, never its value", () => {
  const secret = new Secret("env:API_TOKEN", "tok-very-secret");
  const out = JSON.stringify(redact({ auth: { header: secret } }));
  assert.ok(!out.includes("tok-very-secret"));
  assert.ok(out.includes("<secret from API_TOKEN>"));
});

Deno.test("redact() marks cycles and keeps a literal __proto__ field as data", () => {
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  assert.deepEqual(redact(cycle), { a: 1, self: "[CIRCULAR]" });
  const parsed = JSON.parse('{"__proto__": {"x": 1}}');
  const out = redact(parsed) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out), ["__proto__"]);
  assert.equal(JSON.stringify(out), '{"__proto__":{"x":1}}');
});

Deno.test("redact() cuts hostile nesting without exhausting the stack", () => {
  let deep: unknown = "leaf";
  for (let i = 0; i < 200_000; i++) deep = { d: deep };
  let out = redact(deep, { maxDepth: 3 }) as Record<string, unknown>;
  assert.deepEqual(out, { d: { d: { d: TRUNCATED } } });
  out = redact(deep) as Record<string, unknown>;
  assert.ok(JSON.stringify(out).includes(TRUNCATED));
});

Deno.test("redact() cuts oversized arrays, objects and strings", () => {
  const list = redact(Array.from({ length: 100_000 }, (_, i) => i), { maxNodes: 100 }) as unknown[];
  assert.ok(list.length <= 101);
  assert.equal(list.at(-1), TRUNCATED);
  const wide = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]));
  const fields = redact(wide, { maxNodes: 10 }) as Record<string, unknown>;
  assert.equal(fields[TRUNCATED], TRUNCATED);
  assert.ok(Object.keys(fields).length <= 11);
  assert.equal(redact("x".repeat(100), { maxStringLength: 10 }), `xxxxxxxxxx${TRUNCATED}`);
});

Deno.test("redact() masks a secret before cutting a long string, so no prefix of it survives", () => {
  const out = redact(`${"a".repeat(8)}SECRETVALUE`, {
    secrets: ["SECRETVALUE"],
    maxStringLength: 12,
  });
  assert.equal(out, `aaaaaaaa[RED${TRUNCATED}`);
});

Deno.test("redact() output never contains a secret, however it is placed", () => {
  const secrets = ["db-pass-123", 'we"ird\\pass', "tok_abcdef"];
  const scanner = new SecretScanner(secrets);
  const input = {
    argv: ["mysql", "-pdb-pass-123"],
    headers: { "X-Token": "tok_abcdef", note: "Bearer tok_abcdef" },
    body: JSON.stringify({ pass: 'we"ird\\pass' }),
    nested: [[{ deep: 'prefix we"ird\\pass suffix' }]],
    pem: PEM,
    key: PEM,
  };
  for (const options of [{ secrets }, { secrets: scanner }]) {
    const text = JSON.stringify(redact(input, options));
    for (
      const secret of [...secrets, JSON.stringify(secrets[1]).slice(1, -1), "b3BlbnNzaC1rZXkt"]
    ) {
      assert.ok(!text.includes(secret), `${secret} leaked in ${text}`);
    }
  }
});
