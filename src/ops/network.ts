/**
 * `listening_sockets`: TCP and UDP sockets a host listens on, from `ss`.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";

const socketSchema = z.object({
  protocol: z.enum(["tcp", "udp"]),
  address: z.string(),
  port: z.number().nullable(),
  processes: z.array(z.object({ name: z.string(), pid: z.number() })),
});

/** Listening sockets of one host. */
export const listeningSocketsOutput = z.object({ sockets: z.array(socketSchema) });

/** The output of `listening_sockets`. */
export type ListeningSockets = z.infer<typeof listeningSocketsOutput>;

/**
 * Splits `ss`'s "address:port": `0.0.0.0:22`, `[::]:22`, `*:68`,
 * `127.0.0.53%lo:53`, `[fe80::1%eth0]:123`, `*:*`.
 *
 * @param local The local address column.
 * @returns Address (brackets removed) and port, or `null` when the port is `*`.
 */
export function splitAddress(local: string): { address: string; port: number | null } {
  const colon = local.lastIndexOf(":");
  if (colon <= 0) return { address: local, port: null };
  const host = local.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  const port = Number(local.slice(colon + 1));
  return { address: host, port: Number.isInteger(port) ? port : null };
}

// users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))
const USER = /\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)/g;

/**
 * Parses `ss -tulnp` output (header line skipped): netid, state, recv-q, send-q, local, peer,
 * then an optional process column (shown only for sockets we may inspect).
 *
 * @param stdout What ss printed.
 * @returns One entry per socket; a pid listed twice for one socket is kept once.
 * @throws {OperationError} `bad_output` when a line cannot be read.
 */
export function parseSs(stdout: string): ListeningSockets["sockets"] {
  const sockets: ListeningSockets["sockets"] = [];
  for (const line of stdout.split("\n")) {
    // The header is skipped by text rather than with -H, which ss before iproute2 4.13 lacks.
    if (line.trim() === "" || line.startsWith("Netid")) continue;
    const [netid, , , , local, , ...rest] = line.trim().split(/\s+/);
    if ((netid !== "tcp" && netid !== "udp") || local === undefined) {
      badOutput("ss", "lines starting with tcp or udp");
    }
    const seen = new Set<number>();
    const processes = [...rest.join(" ").matchAll(USER)].flatMap((m) => {
      const pid = Number(m[2]);
      if (seen.has(pid)) return [];
      seen.add(pid);
      return [{ name: m[1], pid }];
    });
    sockets.push({ protocol: netid, ...splitAddress(local), processes });
  }
  return sockets.sort((a, b) =>
    (a.port ?? 0) - (b.port ?? 0) || a.protocol.localeCompare(b.protocol)
  );
}

/** Listening TCP and UDP sockets. */
export const listeningSockets = defineOperation({
  name: "listening_sockets",
  title: "Listening sockets",
  description:
    "TCP sockets listening and UDP sockets bound, by port: protocol, local address (0.0.0.0, :: or * mean all) and port, and owning processes and pids where visible. Needs ss (iproute2).",
  input: z.strictObject({}),
  output: listeningSocketsOutput,
  capability: "network:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["ss"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [["ss", "-tulnp"]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "iproute2");
    if (cmd.exitCode !== 0) badOutput("ss", "exit code 0");
    return { sockets: parseSs(cmd.stdout) };
  },
  render: (out) => {
    const shown = out.sockets.slice(0, 10).map((s) =>
      `${s.protocol} ${s.address}:${s.port ?? "*"}${
        s.processes.length ? ` ${s.processes.map((p) => `${p.name}[${p.pid}]`).join(",")}` : ""
      }`
    );
    const more = out.sockets.length > 10 ? [`… ${out.sockets.length - 10} more`] : [];
    return [`${out.sockets.length} listening sockets`, ...shown, ...more].join("\n");
  },
});
