import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parsePolicy } from "../../src/config/load.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const FILE = "policy.yaml";

/** The problems a policy text produces, as `line:column message`; fails when it parses. */
function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, FILE);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    for (const p of error.problems) assert.equal(p.position?.file, FILE);
    return error.problems.map((p) => `${p.position?.line}:${p.position?.column} ${p.message}`);
  }
  assert.fail("expected the policy to be refused");
}

/** One rule, indented under `rules:`, with extra lines appended. */
const rule = (extra: string) => `rules:\n  - id: r1\n${extra}`;

Deno.test("parsePolicy() fills in file and rule defaults", () => {
  const policy = parsePolicy("rules:\n  - id: everything\n", FILE);
  assert.equal(policy.version, 1);
  assert.equal(policy.description, "");
  assert.equal(policy.rate_limits, undefined);
  assert.equal(policy.identities, undefined);
  assert.deepEqual(policy.rules, [{
    id: "everything",
    description: "",
    effect: "allow",
    operations: ["*"],
    targets: ["*"],
    params: {},
  }]);
  assert.deepEqual(policy.auth, {
    admin_token: true,
    gateway_tokens: { enabled: true, max_ttl_seconds: 2_592_000 },
    oidc: [],
    clock_skew_seconds: 60,
    tailscale: { enabled: false },
  });
});

Deno.test("parsePolicy() reads an empty file as a policy with no rules", () => {
  assert.deepEqual(parsePolicy("", FILE).rules, []);
});

Deno.test("parsePolicy() reads every rule key as written", () => {
  const policy = parsePolicy(
    `rules:
  - id: upgrades
    description: weekly upgrades
    effect: approve
    operations: [package_upgrade]
    tiers: [admin]
    capabilities: [system:admin]
    targets: "group:prod"
    params:
      packages: { enum: [curl] }
      unit: { pattern: "nginx|php-fpm" }
      path: { roots: [/var/log] }
      lines: { min: 1, max: 10 }
    windows: [{ days: [tue], hours: "22:00-02:00", timezone: Europe/Berlin }]
    lockouts:
      - { from: "2025-12-20T00:00:00+01:00", until: "2026-01-06T00:00:00+01:00", reason: freeze }
      - { days: [fri], hours: ["16:00-24:00"] }
    window_tiers: [admin]
    separation_of_duties: true
    approval_ttl: 2h
rate_limits:
  control: { per_minute: 10 }
  admin: { per_minute: 1.5, burst: 2 }
`,
    FILE,
  );
  const [r] = policy.rules;
  assert.deepEqual(r.targets, ["group:prod"]);
  assert.equal(r.approval_ttl, 7_200_000);
  assert.deepEqual(r.windows?.[0].hours, [{ text: "22:00-02:00", start: 1320, end: 120 }]);
  assert.equal(r.windows?.[0].timezone, "Europe/Berlin");
  assert.equal(r.lockouts?.length, 2);
  assert.deepEqual(policy.rate_limits, {
    control: { per_minute: 10 },
    admin: { per_minute: 1.5, burst: 2 },
  });
});

Deno.test("an unknown key in a rule is reported at the key", () => {
  assert.deepEqual(problemsOf(rule("    efect: deny\n")), [
    '3:5 Unknown key "efect": not part of the schema here',
  ]);
});

Deno.test("an unknown top-level key is reported at the key", () => {
  assert.deepEqual(problemsOf("rules: []\nrole: admin\n"), [
    '2:1 Unknown key "role": not part of the schema here',
  ]);
});

Deno.test("a bad effect, tier, capability or selector is reported at its value", () => {
  assert.deepEqual(problemsOf(rule("    effect: permit\n")), [
    "3:13 Invalid effect: expected one of allow, approve, deny",
  ]);
  assert.deepEqual(problemsOf(rule("    tiers: [observe, root]\n")), [
    "3:22 Invalid tier: expected observe, control or admin",
  ]);
  const [capability] = problemsOf(rule("    capabilities: [system:write]\n"));
  assert.match(capability, /^3:20 Unknown capability "system:write": expected one of /);
  const [selector] = problemsOf(rule('    targets: ["Web 1"]\n'));
  assert.match(selector, /^3:15 Invalid target selector "Web 1": expected an id, a glob/);
});

Deno.test("a bad operation name is refused", () => {
  const [problem] = problemsOf(rule("    operations: [Service-Control]\n"));
  assert.match(problem, /^3:18 /);
});

Deno.test("a bad regular expression in pattern is refused at its constraint", () => {
  assert.deepEqual(problemsOf(rule('    params:\n      unit: { pattern: "nginx(" }\n')), [
    '4:24 Invalid pattern "nginx(": expected an RE2 regular expression (no lookaround or backreferences); error parsing regexp: missing closing ): `nginx(`',
  ]);
});

Deno.test("a pattern with lookahead or a backreference is refused: patterns run on RE2", () => {
  const [lookahead] = problemsOf(rule('    params:\n      unit: { pattern: "(?!ssh)[a-z]+" }\n'));
  assert.match(lookahead, /^4:24 Invalid pattern "\(\?!ssh\)\[a-z\]\+": expected an RE2 regular/);
  const [backref] = problemsOf(rule('    params:\n      unit: { pattern: "(a)\\\\1" }\n'));
  assert.match(backref, /expected an RE2 regular expression/);
});

Deno.test("a pattern longer than 512 characters is refused, saying the cap", () => {
  const long = "a".repeat(513);
  const [problem] = problemsOf(rule(`    params:\n      unit: { pattern: "${long}" }\n`));
  assert.match(problem, /Invalid pattern: expected at most 512 characters, found 513/);
});

Deno.test("an optional limit still needs a limit beside it", () => {
  assert.deepEqual(problemsOf(rule("    params:\n      unit: { optional: true }\n")), [
    "4:13 Invalid parameter constraint: expected at least one of enum, pattern, roots, cidrs, min, max",
  ]);
});

Deno.test("an empty parameter constraint is refused", () => {
  assert.deepEqual(problemsOf(rule("    params:\n      unit: {}\n")), [
    "4:13 Invalid parameter constraint: expected at least one of enum, pattern, roots, cidrs, min, max",
  ]);
});

Deno.test("an unknown constraint kind and a relative root are refused", () => {
  const problems = problemsOf(rule(
    "    params:\n      unit: { regex: x }\n      path: { roots: [var/log] }\n",
  ));
  assert.deepEqual(problems, [
    // zod also runs the "at least one" check on the object with the stray key.
    "4:13 Invalid parameter constraint: expected at least one of enum, pattern, roots, cidrs, min, max",
    '4:15 Unknown key "regex": not part of the schema here',
    '5:23 Invalid path: expected an absolute path without ".", ".." or empty segments',
  ]);
});

Deno.test("duplicate rule ids are refused at the second id", () => {
  assert.deepEqual(problemsOf("rules:\n  - id: a\n  - id: a\n"), [
    '3:9 Duplicate rule id "a"',
  ]);
});

Deno.test("windows and lockouts on a deny rule are refused", () => {
  assert.deepEqual(
    problemsOf(rule('    effect: deny\n    windows: [{ hours: "09:00-17:00" }]\n')),
    ['4:14 Rule "r1" has windows, but it denies: expected windows only on allow and approve rules'],
  );
  const [lockout] = problemsOf(rule(
    '    effect: deny\n    lockouts: [{ from: "2025-01-01T00:00:00Z", until: "2025-01-02T00:00:00Z" }]\n',
  ));
  assert.match(lockout, /^4:15 Rule "r1" has lockouts, but it denies/);
});

Deno.test("approval keys on a rule that does not approve are refused", () => {
  for (const key of ["separation_of_duties: true", "confirm: true", "approval_ttl: 5m"]) {
    const [problem] = problemsOf(rule(`    effect: allow\n    ${key}\n`));
    assert.match(
      problem,
      new RegExp(
        `^4:\\d+ Rule "r1" sets ${
          key.split(":")[0]
        }, but its effect is allow: expected it only on approve rules$`,
      ),
    );
  }
});

Deno.test("confirm together with separation_of_duties is refused", () => {
  assert.deepEqual(
    problemsOf(rule("    effect: approve\n    confirm: true\n    separation_of_duties: true\n")),
    [
      '4:14 Rule "r1" sets both confirm and separation_of_duties: expected at most one, since confirm lets the requester approve',
    ],
  );
});

Deno.test("an approval_ttl that is malformed or over 24 hours is refused", () => {
  assert.deepEqual(problemsOf(rule("    effect: approve\n    approval_ttl: 2d\n")), [
    '4:19 Invalid approval_ttl "2d": expected a duration such as "90s", "15m" or "2h"',
  ]);
  assert.deepEqual(problemsOf(rule("    effect: approve\n    approval_ttl: 25h\n")), [
    "4:19 Invalid approval_ttl: expected at most 24h",
  ]);
});

Deno.test("bad window hours, days and time zones are refused at their values", () => {
  assert.deepEqual(
    problemsOf(rule('    windows:\n      - hours: ["25:00-26:00", "09:00-09:00"]\n')),
    [
      '4:17 Invalid hours "25:00-26:00": expected "HH:MM-HH:MM" such as "09:00-17:00" or "22:00-02:00"',
      "4:32 Invalid hours: expected the end to differ from the start",
    ],
  );
  assert.deepEqual(
    problemsOf(rule('    windows: [{ days: [mon, funday], hours: "09:00-17:00" }]\n')),
    [
      "3:29 Invalid day: expected mon, tue, wed, thu, fri, sat or sun",
    ],
  );
  assert.deepEqual(
    problemsOf(rule('    windows: [{ hours: "09:00-17:00", timezone: Mars/Olympus }]\n')),
    [
      '3:49 Unknown time zone "Mars/Olympus": expected an IANA name such as "UTC" or "Europe/Berlin"',
    ],
  );
  assert.deepEqual(problemsOf(rule("    windows: [{ days: [mon] }]\n")), [
    '3:15 Missing required key "hours"',
  ]);
});

Deno.test("a lockout that ends before it starts, or lacks an offset, is refused", () => {
  const [backwards] = problemsOf(rule(
    '    lockouts: [{ from: "2025-01-02T00:00:00Z", until: "2025-01-01T00:00:00Z" }]\n',
  ));
  assert.match(backwards, /^3:16 Invalid lockout: expected "from" to be before "until"$/);
  const [local] = problemsOf(rule(
    '    lockouts: [{ from: "2025-01-01T00:00:00", until: "2025-01-02T00:00:00Z" }]\n',
  ));
  assert.match(
    local,
    /^3:24 Invalid lockout time "2025-01-01T00:00:00": expected an ISO date-time with an offset/,
  );
});

Deno.test("rate limits must be positive and name a tier", () => {
  assert.deepEqual(problemsOf("rate_limits:\n  control: { per_minute: 0 }\n"), [
    "2:26 Too small: expected number to be >0",
  ]);
  assert.deepEqual(problemsOf("rate_limits:\n  write: { per_minute: 5 }\n"), [
    '2:3 Unknown key "write": not part of the schema here',
  ]);
});

Deno.test("identities: roles, bindings and their mistakes", () => {
  const ok = parsePolicy(
    `identities:
  roles:
    viewer: { scopes: [system:read] }
    approver: { scopes: [approvals:grant], targets: "tag:web" }
  bindings:
    - { token: ci-bot, roles: viewer }
    - { oidc_group: sre, issuer: "https://idp.example.com", roles: [viewer, approver] }
    - { tailscale: "*@github", roles: [viewer] }
    - { local: alice, roles: [approver] }
`,
    FILE,
  );
  assert.deepEqual(ok.identities?.bindings[0].roles, ["viewer"]);
  assert.deepEqual(ok.identities?.roles.approver.targets, ["tag:web"]);

  const problems = problemsOf(`identities:
  roles:
    viewer: { scopes: [system:read, root] }
  bindings:
    - { token: a, local: b, roles: [viewer] }
    - { tailscale: alice, issuer: "https://idp.example.com", roles: [viewer] }
    - { roles: [viewer] }
`);
  assert.equal(problems.length, 4, problems.join("\n"));
  assert.match(problems[0], /^3:37 Unknown scope "root": expected one of .*approvals:grant$/);
  assert.match(
    problems[1],
    /^5:7 Invalid binding: expected exactly one of .*, found token, local$/,
  );
  assert.match(problems[2], /^6:35 Invalid binding: "issuer" applies to oidc_\* bindings only/);
  assert.match(problems[3], /^7:7 Invalid binding: expected exactly one of .*, found none$/);
  // Bindings are checked against roles once the section itself is well formed.
  assert.deepEqual(
    problemsOf(`identities:
  roles:
    viewer: { scopes: [system:read] }
  bindings:
    - { token: ci-bot, roles: [viewer, admin] }
`),
    ['5:40 Unknown role "admin": expected one of viewer'],
  );
});

Deno.test("auth: symmetric algorithms, 'none' and resource URIs with a query are refused", () => {
  const problems = problemsOf(`auth:
  resource: "https://gw.example.com/mcp?x=1"
  oidc:
    - issuer: https://idp.example.com
      algorithms: [ES256, HS256, none]
`);
  assert.deepEqual(problems.map((p) => p.split(" ")[0]), ["2:13", "5:27", "5:34"]);
  assert.match(problems[0], /Invalid resource URI: expected no query string/);
  assert.match(problems[1], /Invalid algorithm "HS256": .*symmetric and "none" are never accepted/);
  assert.match(problems[2], /Invalid algorithm "none"/);
});

Deno.test("auth: token lifetimes and clock skew are capped", () => {
  const problems = problemsOf(`auth:
  gateway_tokens: { max_ttl_seconds: 99999999 }
  clock_skew_seconds: 600
`);
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /^2:38 /);
  assert.match(problems[1], /^3:23 /);
});

Deno.test("approvals: a webhook needs an http(s) URL and a secret reference, not a literal", () => {
  const literal = "whsec_literal_value";
  const problems = problemsOf(`approvals:
  webhook:
    url: ftp://chat.example.com/hook
    secret: ${literal}
`);
  assert.equal(problems.length, 2, problems.join("\n"));
  assert.match(problems[0], /^3:10 Invalid webhook url: expected an http\(s\) URL/);
  assert.match(problems[1], /^4:13 Invalid secret reference/);
  assert.ok(!problems.join("\n").includes(literal));
});
