/**
 * The capability vocabulary: the one list of things a target can be allowed
 * to do, an identity can be scoped to, and a policy rule can require.
 *
 * @module
 */
import { z } from "zod";

/** How much an operation can change: the tiers policies and approvals key on. */
export const TIERS = ["observe", "control", "admin"] as const;

/** A tier name. */
export type Tier = typeof TIERS[number];

/** Every capability, with its tier and a sentence for humans. */
export const CAPABILITIES = {
  "system:read": { tier: "observe", summary: "read system state, processes, services and logs" },
  "system:control": { tier: "control", summary: "start, stop, restart and reload services" },
  "system:admin": { tier: "admin", summary: "install and upgrade packages" },
  "process:control": { tier: "control", summary: "send TERM, KILL or HUP to processes" },
  "container:read": { tier: "observe", summary: "list and inspect containers, logs and stats" },
  "container:control": { tier: "control", summary: "start, stop, restart and pause containers" },
  "container:admin": { tier: "admin", summary: "remove containers, pull images, prune" },
  "stack:read": { tier: "observe", summary: "list compose stacks and their status" },
  "stack:control": { tier: "control", summary: "start, stop, restart and update compose stacks" },
  "file:read": { tier: "observe", summary: "read files and list directories under allowed roots" },
  "file:write": { tier: "admin", summary: "write files under allowed roots" },
  "network:read": { tier: "observe", summary: "list listening sockets and interfaces" },
  "network:diag": { tier: "control", summary: "run network diagnostics such as ping" },
  "http:read": { tier: "observe", summary: "send GET and HEAD requests to an HTTP API" },
  "http:write": { tier: "control", summary: "send mutating requests to an HTTP API" },
  "audit:read": { tier: "observe", summary: "read the gateway's audit log" },
  "guest:read": { tier: "observe", summary: "read Proxmox VE cluster, guest and snapshot state" },
  "guest:control": {
    tier: "control",
    summary: "start, stop, reboot and suspend Proxmox VE guests; take snapshots",
  },
  "guest:admin": { tier: "admin", summary: "roll back and delete Proxmox VE guest snapshots" },
  "backup:read": { tier: "observe", summary: "list Proxmox VE backups and backup coverage" },
  "backup:control": { tier: "control", summary: "start Proxmox VE backups (vzdump)" },
} as const satisfies Record<string, { tier: Tier; summary: string }>;

/** A capability name such as `"system:read"`. */
export type Capability = keyof typeof CAPABILITIES;

/** All capability names, in declaration order. */
export const CAPABILITY_NAMES = Object.keys(CAPABILITIES) as Capability[];

/** Schema for one capability name; rejects anything outside the vocabulary. */
export const capabilitySchema: z.ZodType<Capability> = z.enum(
  CAPABILITY_NAMES as [Capability, ...Capability[]],
  {
    error: (issue) =>
      `Unknown capability ${JSON.stringify(issue.input)}: expected one of ${
        CAPABILITY_NAMES.join(", ")
      }`,
  },
);

/** The kinds of target the registry knows. */
export const TARGET_TYPES = ["local", "ssh", "docker", "http", "proxmox"] as const;

/** A target type name. */
export type TargetType = typeof TARGET_TYPES[number];

const HOST_CAPABILITIES: readonly Capability[] = [
  "system:read",
  "system:control",
  "system:admin",
  "process:control",
  "file:read",
  "file:write",
  "network:read",
  "network:diag",
  "stack:read",
  "stack:control",
];

/**
 * Which capabilities a target of each type can possibly have. A registry entry
 * that lists a capability outside its type's set is a configuration error.
 */
export const TARGET_TYPE_CAPABILITIES: Readonly<Record<TargetType, readonly Capability[]>> = {
  local: [...HOST_CAPABILITIES, "audit:read"],
  ssh: HOST_CAPABILITIES,
  docker: [
    "container:read",
    "container:control",
    "container:admin",
    "stack:read",
    "stack:control",
  ],
  http: ["http:read", "http:write"],
  proxmox: ["guest:read", "guest:control", "guest:admin", "backup:read", "backup:control"],
};

/**
 * The tier of a capability.
 *
 * @param capability A capability from the vocabulary.
 * @returns Its tier.
 */
export function tierOf(capability: Capability): Tier {
  return CAPABILITIES[capability].tier;
}

/**
 * Identity scopes: every capability, plus gateway-level scopes that are not
 * target capabilities.
 */
export const GATEWAY_SCOPES = ["approvals:grant"] as const;

/** A scope an identity can hold. */
export type Scope = Capability | typeof GATEWAY_SCOPES[number];

/** All scope names. */
export const SCOPE_NAMES: readonly Scope[] = [...CAPABILITY_NAMES, ...GATEWAY_SCOPES];
