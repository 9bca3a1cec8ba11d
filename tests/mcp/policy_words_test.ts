import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { compileSelector, selectorSchema } from "../../src/config/selector.ts";
import type { Scope } from "../../src/config/capabilities.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import type { GateTarget, Identity } from "../../src/gate/mod.ts";
import { HOST_OPERATIONS } from "../../src/ops/host_ops.ts";
import { describePolicy } from "../../src/mcp/_policy_words.ts";

const YAML = `
rules:
  - id: read
    tiers: [observe]
    description: Written for carol and dave only
  - id: lab-confirm
    effect: approve
    operations: [service_control]
    targets: ["tag:lab"]
    confirm: true
    approval_ttl: 30m
  - id: prod-self
    effect: approve
    operations: [service_control]
    targets: ["tag:prod"]
    separation_of_duties: false
    windows:
      - { days: [sat, sun], hours: ["22:00-02:00"], timezone: Europe/Berlin }
    lockouts:
      - { from: "2026-12-20T00:00:00+01:00", until: "2027-01-06T00:00:00+01:00", reason: freeze }
  - id: no-secret
    effect: deny
    operations: [read_file]
    targets: [secret]
    params:
      path: { roots: [/etc/secret], optional: true }
rate_limits:
  control: { per_minute: 5 }
`;
const FILE = parsePolicy(YAML, "p.yaml");
const COMPILED = compilePolicy(FILE, HOST_OPERATIONS, { file: "p.yaml" });
const host = (id: string, tags: string[]): GateTarget => ({
  id,
  type: "ssh",
  capabilities: ["system:read", "system:control", "file:read"],
  tags,
  groups: [],
});
const TARGETS = [host("lab-1", ["lab"]), host("prod-1", ["prod"]), host("secret", [])];
const who = (scopes: Scope[], targets?: string[]): Identity => ({
  subject: "token:me",
  kind: "token",
  scopes: new Set(scopes),
  ...(targets
    ? {
      grants: [{
        scopes: new Set(scopes),
        targets: compileSelector(selectorSchema.parse(targets)),
      }],
    }
    : {}),
});
const describe = (identity: Identity) =>
  describePolicy(
    { file: FILE, compiled: COMPILED, targets: TARGETS, operations: HOST_OPERATIONS },
    identity,
  );

Deno.test("describePolicy() words approvals, windows, lockouts, limits and rate limits for the caller", () => {
  const text = describe(who(["system:read", "system:control", "file:read"]));
  assert.match(text, /Rule "lab-confirm": Asks you to confirm service_control on lab-1\./);
  assert.match(text, /An approval request stays valid for 30 minutes\./);
  assert.match(
    text,
    /Rule "prod-self": Needs approval \(you may approve it yourself\) for service_control on prod-1\./,
  );
  assert.match(text, /control and admin calls only during: sat, sun 22:00-02:00 Europe\/Berlin\./);
  assert.match(
    text,
    /No control and admin calls during: from 2026-12-20T00:00:00\+01:00 until 2027-01-06T00:00:00\+01:00 \(freeze\)\./,
  );
  assert.match(
    text,
    /Rule "no-secret": Denies read_file on secret\.\n {2}Limits: `path` under \/etc\/secret \(may be left out\)\./,
  );
  assert.match(text, /control 5\/min \(burst 5\)/);
  assert.doesNotMatch(text, /carol|dave/, "rule descriptions are free text: left out");
});

Deno.test("describePolicy() leaves out rules about operations or targets the caller cannot reach", () => {
  const reader = describe(who(["system:read"]));
  assert.doesNotMatch(reader, /lab-confirm|prod-self|no-secret/);
  assert.match(reader, /Rule "read": Allows .* on lab-1, prod-1, secret\./);
  const labOnly = describe(who(["system:read", "system:control"], ["tag:lab"]));
  assert.match(labOnly, /lab-confirm/);
  assert.doesNotMatch(labOnly, /prod-self|prod-1|secret/);
  const nobody = describe(who([]));
  assert.match(nobody, /No rule concerns anything you may reach\./);
  assert.match(nobody, /Your scopes: none\./);
});
