/**
 * The target registry file: schema and derived types. One entry per target;
 * `type` picks the connection shape.
 *
 * @module
 */
import { z } from "zod";
import {
  type Capability,
  capabilitySchema,
  TARGET_TYPE_CAPABILITIES,
  type TargetType,
} from "./capabilities.ts";
import { RESERVED_HTTP_HEADERS } from "./http_headers.ts";
import { secretRefSchema } from "./secret.ts";

/** Target ids, tags and group names: lowercase words joined by `-`, `_` or `.`. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/;

const nameSchema = (what: string) =>
  z.string().regex(NAME_PATTERN, {
    error: (issue) =>
      `Invalid ${what} ${
        JSON.stringify(issue.input)
      }: expected lowercase letters, digits, ".", "_" or "-", at most 63 characters`,
  });

/** An absolute, normalised POSIX path: no `..`, `.`, empty segments or NUL bytes. */
export const absolutePathSchema = z.string().max(4096).refine(
  (path) =>
    path.startsWith("/") && !path.includes("\0") &&
    path.split("/").slice(1).every((seg, i, all) =>
      seg !== "." && seg !== ".." && (seg !== "" || (i === all.length - 1 && all.length === 1))
    ),
  { error: 'Invalid path: expected an absolute path without ".", ".." or empty segments' },
);

const hostSchema = z.string().min(1).max(253).regex(/^[A-Za-z0-9.:_-]+$/, {
  error: "Invalid host: expected a hostname, an IPv4 address or an IPv6 address without brackets",
});

const portError = (issue: { input?: unknown }) =>
  `Invalid port: expected 1 to 65535, found ${JSON.stringify(issue.input)}`;
const portSchema = z.int().min(1, { error: portError }).max(65535, { error: portError });

/**
 * The largest output cap a target may set: 16 MiB. A result travels as one
 * JSON-RPC message (over stdio, one line); beyond this size clients and
 * models cannot use it anyway, and every copy of it costs the gateway memory
 * that other calls need (see the output budget in src/exec/output_budget.ts).
 */
export const MAX_OUTPUT_CAP_BYTES = 16 * 1024 * 1024;

/** Limits every call on a target runs under. */
export const constraintsSchema = z.strictObject({
  /** Per-call timeout in milliseconds. */
  timeout_ms: z.int().min(100).max(3_600_000).default(30_000),
  /** Calls that may run on this target at once. */
  concurrency: z.int().min(1).max(256).default(4),
  /**
   * Bytes of output kept per call (per stream for programs); the rest is cut
   * and the cut is reported. At most {@linkcode MAX_OUTPUT_CAP_BYTES}.
   */
  output_cap_bytes: z.int().min(1024).max(MAX_OUTPUT_CAP_BYTES).default(1024 * 1024),
});

/** File access for host targets: operations may touch paths under these roots only. */
const filesSchema = z.strictObject({
  roots: z.array(absolutePathSchema).max(64).default([]),
  /** Where `file_write` may put files: separate from the read roots, none unless listed. */
  write_roots: z.array(absolutePathSchema).max(64).default([]),
});

/** Which operations run under `sudo -n` on a host target. */
const sudoSchema = z.union([
  z.literal("none"),
  z.literal("all"),
  z.array(z.string().regex(/^[a-z][a-z0-9_]*$/)).min(1),
]).default("none");

const common = {
  id: nameSchema("target id"),
  description: z.string().max(500).default(""),
  capabilities: z.array(capabilitySchema).min(1, {
    error: "Invalid capabilities: expected at least one capability",
  }),
  tags: z.array(nameSchema("tag")).max(64).default([]),
  groups: z.array(nameSchema("group")).max(64).default([]),
  constraints: constraintsSchema.default(constraintsSchema.parse({})),
};

const localTargetSchema = z.strictObject({
  ...common,
  type: z.literal("local"),
  files: filesSchema.default({ roots: [], write_roots: [] }),
});

const sshConnectionSchema = z.strictObject({
  host: hostSchema,
  port: portSchema.default(22),
  user: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, {
    error: "Invalid user: expected a POSIX user name",
  }),
  /** Private key (OpenSSH or PEM format): ed25519, ECDSA or RSA. */
  key: secretRefSchema.optional(),
  passphrase: secretRefSchema.optional(),
  password: secretRefSchema.optional(),
  /** Path of an SSH agent socket; the SSH worker is then allowed to open it. */
  agent: absolutePathSchema.optional(),
  /** Pinned host key fingerprint, as printed by `ssh-keygen -lf`. */
  host_key: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}=?$/, {
    error: 'Invalid host_key: expected an OpenSSH fingerprint such as "SHA256:..."',
  }).optional(),
  /** known_hosts file to verify the host key against (hashed entries supported). */
  known_hosts: absolutePathSchema.optional(),
  /** Id of another ssh target to jump through. */
  via: nameSchema("target id").optional(),
  keepalive_ms: z.int().min(1000).max(600_000).default(5_000),
  idle_close_ms: z.int().min(1000).max(3_600_000).default(300_000),
  /** Channels opened at once on one connection; OpenSSH allows 10 by default. */
  max_channels: z.int().min(1).max(64).default(8),
  connect_timeout_ms: z.int().min(100).max(120_000).default(10_000),
}).refine((c) => c.key !== undefined || c.password !== undefined || c.agent !== undefined, {
  error: "Invalid ssh connection: expected at least one of key, password or agent",
}).refine((c) => c.host_key !== undefined || c.known_hosts !== undefined, {
  error:
    "Invalid ssh connection: expected host_key or known_hosts (host keys are never trusted on first use)",
});

const sshTargetSchema = z.strictObject({
  ...common,
  type: z.literal("ssh"),
  connection: sshConnectionSchema,
  files: filesSchema.default({ roots: [], write_roots: [] }),
  sudo: sudoSchema,
});

const dockerTlsSchema = z.strictObject({
  ca: secretRefSchema,
  cert: secretRefSchema,
  key: secretRefSchema,
  // No server-name override: Deno presents a client certificate only through
  // connectTls, which verifies the engine's certificate against the host dialled.
});

const dockerConnectionSchema = z.union([
  z.strictObject({ socket: absolutePathSchema }),
  z.strictObject({
    host: z.string().regex(/^tcp:\/\/[A-Za-z0-9.:_\[\]-]+:\d{1,5}$/, {
      error: 'Invalid docker host: expected "tcp://HOST:PORT"',
    }),
    tls: dockerTlsSchema,
  }),
], {
  error:
    'Invalid docker connection: expected { socket: /path } or { host: "tcp://HOST:PORT", tls: { ca, cert, key } }',
});

const dockerTargetSchema = z.strictObject({
  ...common,
  type: z.literal("docker"),
  connection: dockerConnectionSchema.default({ socket: "/var/run/docker.sock" }),
});

const httpHeaderNameSchema = z.string().regex(/^[A-Za-z0-9-]{1,64}$/).refine(
  (name) => !RESERVED_HTTP_HEADERS.has(name.toLowerCase()),
  {
    error: (issue) =>
      `Invalid header name ${
        JSON.stringify(issue.input)
      }: expected a header the executor does not set itself (not ${
        [...RESERVED_HTTP_HEADERS].join(", ")
      })`,
  },
);

const httpAuthSchema = z.union([
  z.strictObject({ bearer: secretRefSchema }),
  z.strictObject({
    basic: z.strictObject({ username: z.string().min(1).max(256), password: secretRefSchema }),
  }),
  z.strictObject({
    header: z.strictObject({
      name: httpHeaderNameSchema,
      value: secretRefSchema,
    }),
  }),
], { error: "Invalid http auth: expected one of bearer, basic or header" });

/** Whether text is an IPv4/IPv6 address, optionally with a `/prefix` in range. */
function isCidr(text: string): boolean {
  const [addr, prefix, extra] = text.split("/");
  if (extra !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return false;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (v4) {
    const octets = v4.slice(1);
    return octets.every((p) => Number(p) <= 255 && !/^0\d/.test(p)) && Number(prefix ?? 32) <= 32;
  }
  if (!/^[0-9A-Fa-f:.]+$/.test(addr) || !addr.includes(":")) return false;
  try {
    new URL(`http://[${addr}]/`);
  } catch {
    return false;
  }
  return Number(prefix ?? 128) <= 128;
}

/** Address ranges (CIDR) a named host may resolve to; shared by http and proxmox targets. */
const allowAddressesSchema = z.array(
  z.string().max(64).refine(isCidr, {
    error: (issue) =>
      `Invalid allow_addresses entry ${
        JSON.stringify(issue.input)
      }: expected an IP address or CIDR range such as "10.0.0.0/8" or "fd00::/8"`,
  }),
).max(64).default([]);

const httpMethodSchema = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

const httpConnectionSchema = z.strictObject({
  base_url: z.url({
    protocol: /^https?$/,
    error: "Invalid base_url: expected an http or https URL",
  }),
  methods: z.array(httpMethodSchema).min(1).default(["GET", "HEAD"]),
  /** Path globs (`*` within a segment, `**` across segments) requests may use. */
  paths: z.array(
    z.string().startsWith("/", { error: 'Invalid path glob: expected it to start with "/"' })
      .max(512, { error: "Invalid path glob: expected at most 512 characters" }),
  ).min(1).max(256, { error: "Invalid paths: expected at most 256 globs" }).default(["/**"]),
  headers: z.record(
    httpHeaderNameSchema,
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    z.string().max(4096).regex(/^[^\0-\x08\x0a-\x1f\x7f]*$/, {
      error: "Invalid header value: expected printable characters (no line breaks)",
    }),
  ).default({}),
  auth: httpAuthSchema.optional(),
  tls: z.strictObject({ ca: secretRefSchema.optional() }).default({}),
  redirects: z.enum(["none", "same_origin"]).default("none"),
  /**
   * Address ranges (CIDR) the host may resolve to, beyond its own literal
   * address. A host name with none may reach public addresses only (not
   * loopback, private, link-local, CGNAT/Tailscale…); with some, only these.
   */
  allow_addresses: allowAddressesSchema,
  response_cap_bytes: z.int().min(1024).max(MAX_OUTPUT_CAP_BYTES).default(1024 * 1024),
});

const httpTargetSchema = z.strictObject({
  ...common,
  type: z.literal("http"),
  connection: httpConnectionSchema,
});

/** A Proxmox VE node name (a DNS label, as `pvecm` requires). */
export const PVE_NODE_PATTERN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** A SHA-256 certificate fingerprint as Proxmox VE shows it (`AB:CD:…`, 32 bytes). */
const PIN_PATTERN = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

const proxmoxConnectionSchema = z.strictObject({
  /** The API root, e.g. `https://pve1.lan:8006/api2/json`. */
  base_url: z.url({ protocol: /^https$/, error: "Invalid base_url: expected an https URL" })
    .refine((url) => new URL(url).pathname.replace(/\/+$/, "") === "/api2/json", {
      error: 'Invalid base_url: expected the API root ending in "/api2/json"',
    }).refine((url) => new URL(url).search === "" && new URL(url).username === "", {
      error: "Invalid base_url: expected no query and no credentials in the URL",
    }),
  /** API token id `USER@REALM!TOKENID`; a password is never accepted. */
  token_id: z.string().max(200).regex(
    /^[^\s:/@!]{1,64}@[A-Za-z][A-Za-z0-9_-]{1,31}![A-Za-z][A-Za-z0-9._-]{1,63}$/,
    {
      error: 'Invalid token_id: expected "USER@REALM!TOKENID", e.g. "tailops@pve!gateway"',
    },
  ),
  /** The token's secret (a UUID), as a reference: `${ENV}` or `file:/path`. */
  token_secret: secretRefSchema,
  /** How the API's certificate is trusted: a pinned leaf fingerprint, a CA, or the system roots. */
  tls: z.strictObject({
    fingerprint: z.string().regex(PIN_PATTERN, {
      error: 'Invalid tls.fingerprint: expected a SHA-256 fingerprint "AB:CD:…" (32 bytes)',
    }).transform((pin) => pin.toUpperCase()).optional(),
    ca: secretRefSchema.optional(),
  }).refine((tls) => !(tls.fingerprint && tls.ca), {
    error: "Invalid tls: expected fingerprint or ca, not both",
  }).default({}),
  /** Nodes operations may touch; empty means every node of the cluster. */
  nodes: z.array(
    z.string().regex(PVE_NODE_PATTERN, {
      error: "Invalid node: expected a Proxmox VE node name",
    }),
  ).max(64).default([]),
  allow_addresses: allowAddressesSchema,
  response_cap_bytes: z.int().min(1024).max(MAX_OUTPUT_CAP_BYTES).default(4 * 1024 * 1024),
});

const proxmoxTargetSchema = z.strictObject({
  ...common,
  type: z.literal("proxmox"),
  connection: proxmoxConnectionSchema,
});

/** One target entry, any type. */
export const targetSchema = z.discriminatedUnion("type", [
  localTargetSchema,
  sshTargetSchema,
  dockerTargetSchema,
  httpTargetSchema,
  proxmoxTargetSchema,
], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? "Invalid target type: expected one of local, ssh, docker, http, proxmox"
      : undefined,
}).superRefine((target, ctx) => {
  const supported = TARGET_TYPE_CAPABILITIES[target.type as TargetType];
  target.capabilities.forEach((capability: Capability, index: number) => {
    if (!supported.includes(capability)) {
      ctx.addIssue({
        code: "custom",
        path: ["capabilities", index],
        message: `Capability ${
          JSON.stringify(capability)
        } is not supported by ${target.type} targets: expected one of ${supported.join(", ")}`,
      });
    }
  });
});

/** The whole registry file. */
export const targetsFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }).default(1),
  targets: z.array(targetSchema).min(1, { error: "Invalid targets: expected at least one target" }),
}).superRefine((file, ctx) => {
  const seen = new Map<string, number>();
  file.targets.forEach((target, index) => {
    const first = seen.get(target.id);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["targets", index, "id"],
        message: `Duplicate target id ${JSON.stringify(target.id)}: already used by target ${
          first + 1
        }`,
      });
    } else {
      seen.set(target.id, index);
    }
  });
  const byId = new Map(file.targets.map((t) => [t.id, t]));
  file.targets.forEach((target, index) => {
    if (target.type !== "ssh" || target.connection.via === undefined) return;
    const via = byId.get(target.connection.via);
    if (via?.type !== "ssh" || via.id === target.id) {
      ctx.addIssue({
        code: "custom",
        path: ["targets", index, "connection", "via"],
        message: `Invalid via ${
          JSON.stringify(target.connection.via)
        }: expected the id of another ssh target`,
      });
      return;
    }
    // Follow the jump hosts: a chain that comes back to a host would make
    // every call through it loop until it times out.
    const chain = [target.id];
    let hop: Target | undefined = via;
    while (hop?.type === "ssh") {
      if (chain.includes(hop.id)) {
        ctx.addIssue({
          code: "custom",
          path: ["targets", index, "connection", "via"],
          message: `Invalid via ${JSON.stringify(target.connection.via)}: the jump-host chain ${
            [...chain, hop.id].join(" -> ")
          } is a cycle`,
        });
        return;
      }
      chain.push(hop.id);
      if (chain.length > MAX_JUMP_HOPS + 1) {
        ctx.addIssue({
          code: "custom",
          path: ["targets", index, "connection", "via"],
          message: `Invalid via ${
            JSON.stringify(target.connection.via)
          }: expected at most ${MAX_JUMP_HOPS} jump hosts, found a longer chain`,
        });
        return;
      }
      hop = hop.connection.via === undefined ? undefined : byId.get(hop.connection.via);
    }
  });
});

/** Longest chain of `via` jump hosts accepted. */
export const MAX_JUMP_HOPS = 8;

/** A validated target entry. */
export type Target = z.infer<typeof targetSchema>;
/** A validated ssh target. */
export type SshTarget = Extract<Target, { type: "ssh" }>;
/** A validated docker target. */
export type DockerTarget = Extract<Target, { type: "docker" }>;
/** A validated http target. */
export type HttpTarget = Extract<Target, { type: "http" }>;
/** A validated proxmox target. */
export type ProxmoxTarget = Extract<Target, { type: "proxmox" }>;
/** A validated local target. */
export type LocalTarget = Extract<Target, { type: "local" }>;
/** The validated registry file. */
export type TargetsFile = z.infer<typeof targetsFileSchema>;
