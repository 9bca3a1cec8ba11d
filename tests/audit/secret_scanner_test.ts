import assert from "node:assert/strict";
import { MIN_SECRET_LENGTH, REDACTED, SecretScanner } from "../../src/audit/secret_scanner.ts";

/** The obvious quadratic masking, to check the automaton against. */
function naiveScan(text: string, secrets: string[]): string {
  const covered = new Array<boolean>(text.length).fill(false);
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    for (let at = text.indexOf(secret); at !== -1; at = text.indexOf(secret, at + 1)) {
      covered.fill(true, at, at + secret.length);
    }
  }
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += REDACTED;
  }
  return out;
}

Deno.test("SecretScanner.scan() masks every occurrence, at the start, middle and end", () => {
  const scanner = new SecretScanner(["s3cret"]);
  assert.equal(scanner.scan("s3cret a s3cret b s3cret"), `${REDACTED} a ${REDACTED} b ${REDACTED}`);
});

Deno.test("SecretScanner.scan() returns the same string when no secret occurs", () => {
  const text = "nothing to see here";
  assert.equal(new SecretScanner(["s3cret"]).scan(text), text);
  assert.equal(new SecretScanner([]).scan(text), text);
});

Deno.test("SecretScanner.scan() masks the longest of secrets sharing a prefix", () => {
  const scanner = new SecretScanner(["abcd", "abcdefgh"]);
  assert.equal(scanner.scan("xabcdefghx abcdx"), `x${REDACTED}x ${REDACTED}x`);
});

Deno.test("SecretScanner.scan() masks overlapping and adjacent secrets as one", () => {
  const scanner = new SecretScanner(["abcdef", "defghi", "zzzz"]);
  assert.equal(scanner.scan("xxabcdefghixx"), `xx${REDACTED}xx`);
  assert.equal(scanner.scan("abcdefzzzz!"), `${REDACTED}!`);
});

Deno.test("SecretScanner.scan() follows failure links to find a secret inside a near miss", () => {
  const scanner = new SecretScanner(["bcde", "abcx"]);
  assert.equal(scanner.scan("abcde"), `a${REDACTED}`);
});

Deno.test("SecretScanner.scan() finds a secret as escaped inside JSON text", () => {
  const secret = 'pa"ss\\word';
  const output = JSON.stringify({ password: secret });
  assert.equal(new SecretScanner([secret]).scan(output), `{"password":"${REDACTED}"}`);
});

Deno.test("SecretScanner ignores secrets shorter than the minimum", () => {
  const scanner = new SecretScanner(["abc", "", "a"]);
  assert.equal(scanner.size, 0);
  assert.equal(scanner.scan("abc a"), "abc a");
});

Deno.test("SecretScanner.scan() agrees with naive masking on random text", () => {
  let seed = 7;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const word = (length: number) => Array.from({ length }, () => "abc"[random(3)]).join("");
  for (let round = 0; round < 300; round++) {
    const secrets = Array.from({ length: 1 + random(6) }, () => word(3 + random(5)));
    const text = word(random(80));
    assert.equal(
      new SecretScanner(secrets).scan(text),
      naiveScan(text, secrets),
      `${secrets} in ${text}`,
    );
  }
});

Deno.test("SecretScanner.scan() handles a thousand secrets over 8 MB of output quickly", () => {
  const secrets = Array.from({ length: 1000 }, (_, i) => `secret-${i}-${crypto.randomUUID()}`);
  const scanner = new SecretScanner(secrets);
  const line = "2025-01-01 INFO service healthy; request served in 3 ms\n";
  const text = line.repeat(Math.ceil(8_000_000 / line.length)) + secrets[500] + "\n";
  const started = performance.now();
  const out = scanner.scan(text);
  const elapsed = performance.now() - started;
  assert.ok(out.endsWith(`${REDACTED}\n`));
  assert.ok(!out.includes(secrets[500]));
  assert.ok(elapsed < 2000, `took ${elapsed} ms`);
});
