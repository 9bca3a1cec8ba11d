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

const SECRET = "Sup3r-S3cret/Value+42!";
const utf8 = (text: string) => new TextEncoder().encode(text);
const b64 = (data: Uint8Array) => btoa(String.fromCharCode(...data));
const hexOf = (data: Uint8Array) =>
  Array.from(data, (b) => b.toString(16).padStart(2, "0")).join("");
const uEscape = (text: string) =>
  [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("");

Deno.test("SecretScanner.scan() finds a secret in base64 at every alignment, both alphabets, padded or not", () => {
  const scanner = new SecretScanner([SECRET]);
  for (let align = 0; align < 3; align++) {
    for (let tail = 0; tail < 3; tail++) {
      const data = new Uint8Array([
        ...Array(align).fill(0x61),
        ...utf8(SECRET),
        ...Array(tail).fill(0x7a),
      ]);
      const std = b64(data);
      for (
        const form of [std, std.replace(/=+$/, ""), std.replaceAll("+", "-").replaceAll("/", "_")]
      ) {
        const out = scanner.scan(`before ${form} after`);
        assert.match(out, /\[REDACTED\]/, `align ${align} tail ${tail}: ${form}`);
        // What is left of the encoding is its edges (the neighbours' bits), not the secret.
        const middle = form.slice(4, -4);
        assert.ok(!out.includes(middle), out);
      }
    }
  }
});

Deno.test("SecretScanner.scan() finds a secret in hex, \\u escapes and percent-encoding", () => {
  const scanner = new SecretScanner([SECRET, "naïve-ünïcödé-key"]);
  for (const secret of [SECRET, "naïve-ünïcödé-key"]) {
    const forms = [
      hexOf(utf8(secret)),
      hexOf(utf8(secret)).toUpperCase(),
      uEscape(secret),
      uEscape(secret).replace(/[a-f]/g, (c) => c.toUpperCase()),
      JSON.stringify(uEscape(secret)).slice(1, -1),
      secret.slice(0, 3) + uEscape(secret.slice(3, 8)) + secret.slice(8),
      encodeURIComponent(secret),
      encodeURIComponent(secret).toLowerCase(),
      Array.from(utf8(secret), (b) => `%${b.toString(16).padStart(2, "0")}`).join(""),
      new URLSearchParams({ v: secret }).toString().slice(2),
    ];
    for (const form of forms) {
      assert.equal(scanner.scan(`[${form}]`), `[${REDACTED}]`, form);
    }
  }
});

Deno.test("SecretScanner.scan() keeps text with escapes but no secret unchanged", () => {
  const scanner = new SecretScanner([SECRET]);
  for (
    const text of [
      "100% done, %zz %4 \\u12",
      "\\u0041\\u0042 %41%42 caf%C3%A9",
      "%E2%82",
      "%F0%9F%98%80!",
    ]
  ) {
    assert.equal(scanner.scan(text), text);
  }
  // A secret after decoded escapes is masked at its own place in the original text.
  assert.equal(scanner.scan(`%41%42 \\u0043 ${SECRET} end`), `%41%42 \\u0043 ${REDACTED} end`);
  assert.equal(
    scanner.scan(`caf%C3%A9 ${encodeURIComponent(SECRET)}!`),
    `caf%C3%A9 ${REDACTED}!`,
  );
});

Deno.test("SecretScanner.scan() masks encoded secrets the same way across random surroundings", () => {
  let seed = 11;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  const secrets = ["correct-horse-battery", "Tr0ub4dor&3xyz", "ключ-доступа-77"];
  const scanner = new SecretScanner(secrets);
  const encoders = [
    (s: string) => s,
    (s: string) => b64(new Uint8Array([...Array(random(3)).fill(0x20), ...utf8(s)])),
    (s: string) => hexOf(utf8(s)),
    uEscape,
    encodeURIComponent,
  ];
  for (let round = 0; round < 200; round++) {
    const secret = secrets[random(secrets.length)];
    const form = encoders[random(encoders.length)](secret);
    const noise = () => Array.from({ length: random(20) }, () => " .,:;\n"[random(6)]).join("");
    const out = scanner.scan(noise() + form + noise());
    assert.match(out, /\[REDACTED\]/, form);
    assert.ok(!out.includes(secret), out);
  }
});

Deno.test("SecretScanner keeps memory and time bounded with many and long secrets", () => {
  const many = Array.from({ length: 1000 }, (_, i) => `secret-${i}-${crypto.randomUUID()}`);
  const pem = Array.from(
    { length: 10 },
    () => Array.from({ length: 40 }, () => crypto.randomUUID().replaceAll("-", "")).join("\n"),
  );
  const before = Deno.memoryUsage().heapUsed;
  const scanner = new SecretScanner([...many, ...pem]);
  const grown = Deno.memoryUsage().heapUsed - before;
  // About 70 KB of secret text: five forms each, ~20 bytes per trie node.
  assert.ok(grown < 120_000_000, `the automaton took ${grown} bytes`);
  const text = "%41 \\u0041 ".repeat(100_000) + pem[3].slice(0, 600) + many[999];
  const out = scanner.scan(text);
  assert.ok(out.endsWith(REDACTED), out.slice(-80));
  assert.ok(!out.includes(many[999]));
});

Deno.test("SecretScanner.scan() masks a secret's beginning where output was cut, in any form", () => {
  const scanner = new SecretScanner([SECRET]);
  const cuts = [
    SECRET.slice(0, 9),
    b64(utf8(SECRET)).slice(0, 12),
    hexOf(utf8(SECRET)).slice(0, 16),
    uEscape(SECRET).slice(0, 6 * 9),
    uEscape(SECRET).slice(0, 6 * 9 + 3), // the cut falls inside an escape
    encodeURIComponent(SECRET).slice(0, 10),
  ];
  for (const cut of cuts) {
    // At the end of the text, and at the end of a JSON string followed by more fields.
    assert.equal(scanner.scan(`log: ${cut}`), `log: ${REDACTED}`, cut);
    const json = JSON.stringify({ output: `head ${cut}`, truncated: true });
    const out = scanner.scan(json);
    assert.equal(JSON.parse(out).output, `head ${REDACTED}`, `${cut}: ${out}`);
    assert.equal(JSON.parse(out).truncated, true);
  }
});

Deno.test("SecretScanner.scan() leaves short or mid-text beginnings of a secret alone", () => {
  const scanner = new SecretScanner([SECRET]);
  for (
    const text of [
      `ends with ${SECRET.slice(0, 7)}`,
      JSON.stringify({ a: `${SECRET.slice(0, 10)} and then more` }),
      JSON.stringify({ a: "x", b: SECRET.slice(0, 5) }),
    ]
  ) {
    assert.equal(scanner.scan(text), text);
  }
  // A beginning is masked only inside its own quoted string, never across a quote.
  const split = `"${SECRET.slice(0, 4)}" "${SECRET.slice(4, 12)}"`;
  assert.equal(scanner.scan(split), split);
});

Deno.test("SecretScanner.scan() masks any piece of 24 characters or more cut from a long secret", () => {
  const key = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    ...Array.from({ length: 12 }, () => crypto.randomUUID().replaceAll("-", "").repeat(2)),
    "-----END OPENSSH PRIVATE KEY-----",
  ].join("\n");
  const scanner = new SecretScanner([key]);
  let seed = 3;
  const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let round = 0; round < 200; round++) {
    const length = 24 + random(300);
    const start = random(key.length - length);
    const piece = key.slice(start, start + length);
    for (const text of [`log: ${piece} done`, piece, JSON.stringify({ out: piece, n: 1 })]) {
      const out = scanner.scan(text);
      assert.ok(!out.includes(piece.slice(8, -8)), `piece at ${start}+${length} in ${out}`);
    }
  }
  // The last lines of the key, as `tail` shows them, are masked to the end.
  const tail = key.split("\n").slice(-4).join("\n");
  // (The newlines around it may go too: the key's own lines end in newlines.)
  const shown = scanner.scan(`container said:\n${tail}\n`);
  assert.match(shown, /^container said:\n?\[REDACTED\]\n?$/);
});

Deno.test("SecretScanner windows do not mask ordinary text that merely shares short runs", () => {
  const secret = "the-quick-brown-fox-jumps-over-the-lazy-dog-0123456789";
  const scanner = new SecretScanner([secret]);
  const text = "the quick brown fox, the-quick-brown ran over the-lazy-dog today";
  assert.equal(scanner.scan(text), text);
});
