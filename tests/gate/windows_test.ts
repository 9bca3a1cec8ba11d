import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { decide, type Decision, type GateTarget } from "../../src/gate/decide.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { compilePolicy, type OperationFacts } from "../../src/gate/policy.ts";
import { type Lockout, type Window, windowSchema } from "../../src/config/window_schema.ts";
import { lockoutSchema } from "../../src/config/window_schema.ts";
import {
  activeLockout,
  formatWallTime,
  isInside,
  nextWindowStart,
} from "../../src/gate/windows.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const at = (iso: string) => new Date(iso);
const win = (w: unknown): Window[] => [windowSchema.parse(w)];
const lock = (l: unknown): Lockout[] => [lockoutSchema.parse(l)];

// 2025-01-01 is a Wednesday; 2025-01-04 a Saturday.
const officeHours = win({ days: ["mon", "tue", "wed", "thu", "fri"], hours: "09:00-17:00" });

Deno.test("isInside() admits instants inside a daytime window and refuses the rest", () => {
  assert.equal(isInside(officeHours, at("2025-01-01T10:00:00Z")), true);
  assert.equal(isInside(officeHours, at("2025-01-01T09:00:00Z")), true);
  assert.equal(isInside(officeHours, at("2025-01-01T16:59:59Z")), true);
  assert.equal(isInside(officeHours, at("2025-01-01T17:00:00Z")), false);
  assert.equal(isInside(officeHours, at("2025-01-01T08:59:59Z")), false);
  assert.equal(isInside(officeHours, at("2025-01-04T10:00:00Z")), false);
});

Deno.test("isInside() treats no windows as no restriction", () => {
  assert.equal(isInside([], at("2025-01-04T03:00:00Z")), true);
});

Deno.test("isInside() runs an overnight range into the next day", () => {
  const friNight = win({ days: ["fri"], hours: "22:00-02:00" });
  assert.equal(isInside(friNight, at("2025-01-03T23:00:00Z")), true);
  assert.equal(isInside(friNight, at("2025-01-04T01:59:00Z")), true);
  assert.equal(isInside(friNight, at("2025-01-04T02:00:00Z")), false);
  assert.equal(isInside(friNight, at("2025-01-03T21:59:00Z")), false);
  assert.equal(
    isInside(friNight, at("2025-01-04T23:00:00Z")),
    false,
    "Saturday night is not listed",
  );
  assert.equal(
    isInside(friNight, at("2025-01-03T01:00:00Z")),
    false,
    "Thursday night is not listed",
  );
});

Deno.test("isInside() reads wall time in the window's time zone, in winter and summer", () => {
  const berlin = win({ hours: "09:00-17:00", timezone: "Europe/Berlin" });
  assert.equal(isInside(berlin, at("2025-01-15T08:30:00Z")), true, "09:30 CET");
  assert.equal(isInside(berlin, at("2025-01-15T16:30:00Z")), false, "17:30 CET");
  assert.equal(isInside(berlin, at("2025-07-15T07:30:00Z")), true, "09:30 CEST");
  assert.equal(isInside(berlin, at("2025-07-15T15:30:00Z")), false, "17:30 CEST");
  assert.equal(isInside(berlin, at("2025-07-15T06:30:00Z")), false, "08:30 CEST");
});

Deno.test("nextWindowStart() finds the next opening in the window's zone", () => {
  const weekend = win({ days: ["sat"], hours: "22:00-02:00", timezone: "Europe/Berlin" });
  assert.deepEqual(
    nextWindowStart(weekend, at("2025-01-01T12:00:00Z")),
    at("2025-01-04T21:00:00Z"),
  );
  assert.deepEqual(
    nextWindowStart(weekend, at("2025-01-04T21:00:00Z")),
    at("2025-01-11T21:00:00Z"),
    "strictly after now",
  );
  assert.equal(nextWindowStart([], at("2025-01-01T12:00:00Z")), undefined);
});

Deno.test("nextWindowStart() opens a window that starts in the spring-forward gap when clocks jump", () => {
  // Berlin, 2025-03-30: 02:00 CET jumps to 03:00 CEST at 01:00Z; 02:30 never happens.
  const early = win({ hours: "02:30-04:00", timezone: "Europe/Berlin" });
  assert.deepEqual(nextWindowStart(early, at("2025-03-30T00:00:00Z")), at("2025-03-30T01:00:00Z"));
  assert.equal(isInside(early, at("2025-03-30T00:59:00Z")), false, "01:59 CET");
  assert.equal(isInside(early, at("2025-03-30T01:00:00Z")), true, "03:00 CEST");
  assert.deepEqual(nextWindowStart(early, at("2025-03-31T00:00:00Z")), at("2025-03-31T00:30:00Z"));
});

Deno.test("windows follow the repeated hour when clocks fall back", () => {
  // Berlin, 2025-10-26: 03:00 CEST falls back to 02:00 CET at 01:00Z; 02:30 happens twice.
  const early = win({ hours: "02:30-03:00", timezone: "Europe/Berlin" });
  assert.deepEqual(nextWindowStart(early, at("2025-10-25T23:00:00Z")), at("2025-10-26T00:30:00Z"));
  assert.equal(isInside(early, at("2025-10-26T00:40:00Z")), true, "02:40 CEST");
  assert.equal(isInside(early, at("2025-10-26T01:10:00Z")), false, "02:10 CET");
  assert.equal(isInside(early, at("2025-10-26T01:40:00Z")), true, "02:40 CET");
});

Deno.test("activeLockout() finds absolute lockouts with their end", () => {
  const freeze = lock({
    from: "2025-12-20T00:00:00+01:00",
    until: "2026-01-06T00:00:00+01:00",
    reason: "holiday freeze",
  });
  assert.equal(activeLockout(freeze, at("2025-12-19T22:59:59Z")), undefined);
  const active = activeLockout(freeze, at("2025-12-24T12:00:00Z"));
  assert.deepEqual(active?.until, at("2026-01-05T23:00:00Z"));
  assert.equal(active?.lockout.reason, "holiday freeze");
  assert.equal(activeLockout(freeze, at("2026-01-05T23:00:00Z")), undefined);
});

Deno.test("activeLockout() finds recurring lockouts and the end of the current range", () => {
  const fridays = lock({ days: ["fri"], hours: "16:00-24:00", timezone: "America/New_York" });
  // 2025-01-03 is a Friday; 16:00 EST is 21:00Z.
  assert.equal(activeLockout(fridays, at("2025-01-03T20:59:00Z")), undefined);
  assert.deepEqual(
    activeLockout(fridays, at("2025-01-03T22:00:00Z"))?.until,
    at("2025-01-04T05:00:00Z"),
  );
});

Deno.test("formatWallTime() shows the weekday, local date and time and the zone", () => {
  assert.equal(
    formatWallTime(at("2025-01-04T21:00:00Z"), "Europe/Berlin"),
    "Sat 2025-01-04 22:00 Europe/Berlin",
  );
  assert.equal(formatWallTime(at("2025-07-01T00:05:00Z"), "UTC"), "Tue 2025-07-01 00:05 UTC");
});

Deno.test("window and lockout schemas refuse bad hours, zones and reversed ranges", () => {
  const problems = (schema: typeof windowSchema | typeof lockoutSchema, input: unknown) =>
    schema.safeParse(input).error?.issues.map((i) => i.message).join("\n") ?? "";
  assert.match(problems(windowSchema, { hours: "25:00-01:00" }), /Invalid hours "25:00-01:00"/);
  assert.match(problems(windowSchema, { hours: "10:00-10:00" }), /end to differ/);
  assert.match(
    problems(windowSchema, { hours: "09:00-17:00", timezone: "Mars/Olympus" }),
    /Unknown time zone "Mars\/Olympus"/,
  );
  assert.match(problems(windowSchema, { hours: "09:00-17:00", days: ["someday"] }), /Invalid day/);
  assert.match(
    problems(lockoutSchema, { from: "2025-02-01T00:00:00Z", until: "2025-01-01T00:00:00Z" }),
    /"from" to be before "until"/,
  );
  assert.match(
    problems(lockoutSchema, { from: "2025-02-01", until: "2025-03-01" }),
    /Invalid lockout time "2025-02-01"/,
  );
});

Deno.test("a policy rule with windows parses and bad placements are config errors", () => {
  const policy = parsePolicy(
    `rules:\n  - id: r\n    effect: allow\n    windows: [{ days: [sat], hours: "22:00-02:00", timezone: Europe/Berlin }]\n`,
    "p.yaml",
  );
  assert.deepEqual(policy.rules[0].windows?.[0].hours[0], {
    text: "22:00-02:00",
    start: 1320,
    end: 120,
  });
  assert.throws(
    () =>
      parsePolicy(
        `rules:\n  - id: r\n    effect: deny\n    windows: [{ hours: "09:00-17:00" }]\n`,
        "p.yaml",
      ),
    /p\.yaml:4:\d+: Rule "r" has windows, but it denies/,
  );
});

// --- decide(): the window rung -------------------------------------------------

const restart: OperationFacts = {
  name: "service_restart",
  capability: "system:control",
  tier: "control",
  targetTypes: ["ssh", "local"],
  paramNames: ["unit"],
};
const status: OperationFacts = {
  ...restart,
  name: "service_status",
  capability: "system:read",
  tier: "observe",
};
const web1: GateTarget = {
  id: "web-1",
  type: "ssh",
  tags: ["web"],
  groups: [],
  capabilities: ["system:read", "system:control"],
};
const alice = fullIdentity("local:alice", "local");
const WEEKEND = `windows: [{ days: [sat], hours: "22:00-02:00", timezone: Europe/Berlin }]`;

function gate(yaml: string): (op: OperationFacts, now?: Date) => Decision {
  const policy = compilePolicy(parsePolicy(yaml, "p.yaml"), [restart, status]);
  return (op, now) =>
    decide({ identity: alice, operation: op, target: web1, args: {}, now }, policy);
}

Deno.test("decide() without windows behaves as before, with or without a clock", () => {
  const decideIn = gate(`rules:\n  - id: ops\n    effect: allow\n`);
  assert.deepEqual(decideIn(restart), { kind: "allow", rule: "ops" });
  assert.deepEqual(decideIn(restart, at("2025-01-01T12:00:00Z")), { kind: "allow", rule: "ops" });
  const denying = gate(`rules:\n  - id: ops\n  - id: no\n    effect: deny\n    tiers: [control]\n`);
  assert.equal((denying(restart) as { code: string }).code, "policy_deny");
});

Deno.test("decide() denies a control call outside the window with the next window start", () => {
  const decideIn = gate(`rules:\n  - id: weekend\n    ${WEEKEND}\n`);
  const decision = decideIn(restart, at("2025-01-01T12:00:00Z"));
  assert.equal(decision.kind, "deny");
  assert.equal(decision.kind === "deny" && decision.code, "outside_window");
  assert.equal(decision.kind === "deny" && decision.rule, "weekend");
  assert.equal(
    decision.kind === "deny" && decision.reason,
    `Policy rule "weekend" refuses "service_restart" on target "web-1": it is outside the maintenance windows: the next window opens Sat 2025-01-04 22:00 Europe/Berlin (2025-01-04T21:00:00.000Z)`,
  );
  assert.deepEqual(decideIn(restart, at("2025-01-04T23:30:00Z")), {
    kind: "allow",
    rule: "weekend",
  });
});

Deno.test("decide() never holds observe calls to windows unless the rule lists observe", () => {
  assert.deepEqual(
    gate(`rules:\n  - id: weekend\n    ${WEEKEND}\n`)(status, at("2025-01-01T12:00:00Z")),
    { kind: "allow", rule: "weekend" },
  );
  const strict = gate(
    `rules:\n  - id: weekend\n    window_tiers: [observe, control]\n    ${WEEKEND}\n`,
  );
  assert.equal(
    (strict(status, at("2025-01-01T12:00:00Z")) as { code: string }).code,
    "outside_window",
  );
});

Deno.test("decide() falls back to another admitting rule outside a rule's window", () => {
  const decideIn = gate(
    `rules:\n  - id: weekend\n    ${WEEKEND}\n  - id: weekday-approval\n    effect: approve\n    tiers: [control]\n`,
  );
  const weekday = decideIn(restart, at("2025-01-01T12:00:00Z"));
  assert.equal(weekday.kind, "approval_required");
  assert.equal(weekday.kind === "approval_required" && weekday.rule, "weekday-approval");
  assert.deepEqual(weekday.kind === "approval_required" && weekday.approval, {
    ttlMs: 15 * 60_000,
    separationOfDuties: true,
    confirm: false,
  });
  assert.equal(decideIn(restart, at("2025-01-04T23:30:00Z")).kind, "approval_required");
});

Deno.test("decide() denies during a lockout even when another rule would allow", () => {
  const decideIn = gate(`rules:
  - id: freeze
    lockouts: [{ from: "2025-12-20T00:00:00+01:00", until: "2026-01-06T00:00:00+01:00", reason: holiday freeze }]
  - id: also
`);
  const decision = decideIn(restart, at("2025-12-24T12:00:00Z"));
  assert.equal(decision.kind === "deny" && decision.code, "lockout");
  assert.match(
    decision.kind === "deny" ? decision.reason : "",
    /lockout \(holiday freeze\) is in force until Mon 2026-01-05 23:00 UTC/,
  );
  assert.deepEqual(decideIn(restart, at("2026-01-07T12:00:00Z")), {
    kind: "allow",
    rule: "freeze",
  });
  assert.deepEqual(decideIn(status, at("2025-12-24T12:00:00Z")), { kind: "allow", rule: "freeze" });
});

Deno.test("decide() fails closed when a window governs the call and no clock is given", () => {
  const decision = gate(`rules:\n  - id: weekend\n    ${WEEKEND}\n`)(restart);
  assert.equal(decision.kind === "deny" && decision.code, "outside_window");
  assert.match(decision.kind === "deny" ? decision.reason : "", /without the current time/);
});
