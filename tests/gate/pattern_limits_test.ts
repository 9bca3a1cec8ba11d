/**
 * Patterns the gate matches against arguments and names it does not
 * control. Each attack runs in a child process with a generous deadline, so
 * a regression to a backtracking matcher fails this test instead of hanging
 * the suite (no timing is asserted: the deadline only stops a runaway).
 */
import assert from "node:assert/strict";

const REPO = new URL("../../", import.meta.url);
const DEADLINE_MS = 60_000;

/** Runs `code` as a module in the repository (so the import map applies); returns its stdout. */
async function runBounded(code: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-prompt", "--ext=ts", code],
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(DEADLINE_MS),
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.success, true, `child failed or ran past ${DEADLINE_MS} ms: ${stderr}`);
  return new TextDecoder().decode(out.stdout).trim();
}

const PRELUDE = `
import { parsePolicy } from "./src/config/load.ts";
import { compilePolicy } from "./src/gate/policy.ts";
import { CATALOG } from "./src/ops/catalog.ts";
const compile = (yaml: string) => compilePolicy(parsePolicy(yaml, "p.yaml"), CATALOG);
`;

Deno.test("evil policy patterns decide long adversarial arguments in linear time", async () => {
  const out = await runBounded(`${PRELUDE}
const verdicts: string[] = [];
for (const pattern of ["(a+)+$", "(a|a)*", "(a|aa)+", "(.*a){20}", "((a+)*)+b", "(x+x+)+y"]) {
  const policy = compile(\`rules:
  - id: r
    operations: [read_file]
    params:
      path: { pattern: ${"${JSON.stringify(pattern)}"} }
\`);
  for (const value of ["a".repeat(100_000) + "!", "x".repeat(50_000), "a".repeat(30) + "!"]) {
    verdicts.push(policy.rules[0].checkParams({ path: value }, { paramNames: ["path"] }) ? "refused" : "ok");
  }
}
console.log(verdicts.join(","));
`);
  const verdicts = out.split(",");
  assert.equal(verdicts.length, 18);
  assert.ok(verdicts.every((v) => v === "refused"), out);
});

Deno.test("policy files with many long operation globs compile and match at once", async () => {
  const out = await runBounded(`${PRELUDE}
const globs = ["*?".repeat(31) + "x", "?*".repeat(31) + "x", "*".repeat(63) + "x", "?".repeat(63) + "*"];
const rules = Array.from({ length: 1000 }, (_, i) =>
  "  - id: r" + i + "\\n    operations: " + JSON.stringify(globs) + "\\n").join("");
const policy = compile("rules:\\n" + rules);
let matched = 0;
for (const rule of policy.rules) for (const op of CATALOG) if (rule.matchesOperation(op)) matched++;
console.log(matched);
`);
  // Only "?"×63 + "*" could match a name of 63+ characters; none is that long.
  assert.equal(out, "0");
});

Deno.test("an operation glob longer than 64 characters is refused, saying the cap", async () => {
  const { parsePolicy } = await import("../../src/config/load.ts");
  const { ConfigError } = await import("../../src/config/errors.ts");
  try {
    parsePolicy(`rules:\n  - id: r\n    operations: ["${"*".repeat(65)}"]\n`, "p.yaml");
    assert.fail("expected a ConfigError");
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.problems[0].message, /at most 64 characters/);
  }
});

Deno.test("identity bindings and known_hosts patterns match star bombs against long values at once", async () => {
  const out = await runBounded(`
import { compileBindings } from "./src/auth/bindings.ts";
import { parseKnownHosts } from "./src/exec/workers/_ssh_host_keys.ts";
const bomb = "*a".repeat(100) + "b";
const resolve = compileBindings({
  roles: { r: { scopes: ["system:read"] } },
  bindings: [
    { oidc_email: bomb, issuer: "https://idp", roles: ["r"] },
    { tailscale: bomb, roles: ["r"] },
    { token: bomb, roles: ["r"] },
  ],
} as never);
const long = "a".repeat(20_000);
const a = resolve({ kind: "oidc", issuer: "https://idp", sub: long, email: long, groups: [long] } as never);
const b = resolve({ kind: "tailscale", login: long } as never);
console.log(a.scopes.size + b.scopes.size);
// A known_hosts line of 300 patterns, each a star bomb, against a long host name.
const key = new Uint8Array([0, 0, 0, 11, ...new TextEncoder().encode("ssh-ed25519"), 0, 0, 0, 32, ...new Uint8Array(32)]);
const patterns = Array.from({ length: 300 }, (_, i) => "*?".repeat(40) + "x" + i).join(",");
const [line] = parseKnownHosts(patterns + " ssh-ed25519 " + btoa(String.fromCharCode(...key)));
console.log(line.matches("h".repeat(5000)) ? "matched" : "no");
`);
  assert.deepEqual(out.split("\n"), ["0", "no"]);
});
