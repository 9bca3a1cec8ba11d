/**
 * Network diagnostics run from a target (`network:diag`, control tier):
 * `tcp_check` (can this host reach host:port), `dns_lookup` (what a name
 * resolves to there) and `ping`. Destinations are plain parameters, so a
 * policy rule limits them like any other (`host: { enum: [...] }` or a
 * `pattern`, `port: { enum: [...] }`) and a target cannot become a scanner:
 * one destination per call, and a rule that limits `host` refuses a call
 * whose host it does not list.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

// Checked as a refinement so the long pattern is not spelled out in every tool's schema.
const DESTINATION =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}))*\.?|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7})$/;

/**
 * A destination: a DNS name or an IPv4 address, or an IPv6 address. Never
 * starting with `-`, so it cannot read as an option.
 */
export const destinationSchema = z.string().max(253).refine(
  (value) => DESTINATION.test(value),
  {
    error:
      'Invalid host: expected a DNS name such as "db-1.internal", an IPv4 address such as "10.0.0.5" or an IPv6 address',
  },
);

const portSchema = z.int().min(1).max(65535);
const waitSchema = z.int().min(1).max(10).default(3);

/** Can this host open a TCP connection to host:port? */
export const tcpCheck = defineOperation({
  name: "tcp_check",
  title: "TCP check",
  description:
    "From the target, tries one TCP connection to `host`:`port` (waiting up to `timeout_s`, default 3) with nc. Returns whether it opened and, if not, why (refused, timed out, no route, unknown name).",
  input: z.strictObject({ host: destinationSchema, port: portSchema, timeout_s: waitSchema }),
  output: z.object({
    host: z.string(),
    port: z.int(),
    open: z.boolean(),
    reason: z.string().nullable(),
  }),
  capability: "network:diag",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: false,
  programs: ["nc"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [[
      "nc",
      "-z",
      "-v",
      "-w",
      String(args.timeout_s),
      "--",
      args.host,
      String(args.port),
    ]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "netcat-openbsd");
    const said = `${cmd.stderr}\n${cmd.stdout}`;
    if (cmd.exitCode === 0 && /succeeded|open|Connected/i.test(said)) {
      return { host: args.host, port: args.port, open: true, reason: null };
    }
    const reason = /refused/i.test(said)
      ? "refused"
      : /timed out|timeout/i.test(said)
      ? "timed out"
      : /No route|unreachable/i.test(said)
      ? "no route"
      : /not known|resolve|No address|Name or service/i.test(said)
      ? "unknown name"
      : firstErrorLine(cmd);
    return { host: args.host, port: args.port, open: false, reason };
  },
  render: (out) => `${out.host}:${out.port} ${out.open ? "open" : `not reachable (${out.reason})`}`,
});

/** What a name resolves to on this host. */
export const dnsLookup = defineOperation({
  name: "dns_lookup",
  title: "DNS lookup",
  description:
    "Resolves `host` on the target the way its programs do (getent ahosts: /etc/hosts, DNS, nsswitch) and returns the distinct addresses, or found: false.",
  input: z.strictObject({ host: destinationSchema }),
  output: z.object({ host: z.string(), found: z.boolean(), addresses: z.array(z.string()) }),
  capability: "network:diag",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: false,
  programs: ["getent"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [["getent", "ahosts", "--", args.host]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "libc-bin");
    // getent exits 2 when the name is not found.
    if (cmd.exitCode === 2) return { host: args.host, found: false, addresses: [] };
    if (cmd.exitCode !== 0) {
      throw new OperationError("failed", `getent failed: ${firstErrorLine(cmd)}`);
    }
    const addresses = [
      ...new Set(cmd.stdout.split("\n").map((l) => l.split(/\s+/)[0]).filter((a) => a !== "")),
    ];
    return { host: args.host, found: addresses.length > 0, addresses };
  },
  render: (out) =>
    out.found ? `${out.host}: ${out.addresses.join(", ")}` : `${out.host}: not found`,
});

const SUMMARY = /(\d+) packets transmitted, (\d+) (?:packets )?received/;
const RTT = /= ([\d.]+)\/([\d.]+)\/([\d.]+)/;

/** ICMP echo from this host. */
export const ping = defineOperation({
  name: "ping",
  title: "Ping",
  description:
    "Sends `count` ICMP echo requests (1-10, default 3) from the target to `host`, each waiting up to `timeout_s`. Returns sent, received, loss percent and min/avg/max round trip in ms.",
  input: z.strictObject({
    host: destinationSchema,
    count: z.int().min(1).max(10).default(3),
    timeout_s: waitSchema,
  }),
  output: z.object({
    host: z.string(),
    sent: z.int(),
    received: z.int(),
    loss_percent: z.number(),
    rtt_ms: z.object({ min: z.number(), avg: z.number(), max: z.number() }).nullable(),
  }),
  capability: "network:diag",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: false,
  programs: ["ping"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [[
      "ping",
      "-n",
      "-c",
      String(args.count),
      "-W",
      String(args.timeout_s),
      "--",
      args.host,
    ]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "iputils-ping");
    const summary = cmd.stdout.match(SUMMARY);
    if (!summary) {
      throw new OperationError("failed", `ping failed: ${firstErrorLine(cmd)}`);
    }
    const sent = Number(summary[1]);
    const received = Number(summary[2]);
    const rtt = cmd.stdout.match(RTT);
    return {
      host: args.host,
      sent,
      received,
      loss_percent: sent === 0 ? 100 : Math.round((1 - received / sent) * 1000) / 10,
      rtt_ms: rtt ? { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) } : null,
    };
  },
  render: (out) =>
    `${out.host}: ${out.received}/${out.sent} replies${
      out.rtt_ms ? `, avg ${out.rtt_ms.avg} ms` : ""
    }`,
});
