/**
 * `tls_check` (`network:diag`, like `tcp_check`): the certificate chain a
 * TLS server at host:port presents to the target, its expiry and whether the
 * target's trust store verifies it. The target runs `openssl s_client` (its
 * input is closed, so it ends after the handshake); the gateway reads the
 * leaf certificate's PEM with `node:crypto`'s X509Certificate, so no second
 * program and no pipe are needed. The destination is the same `host` and
 * `port` parameters as `tcp_check`, limited by policy the same way.
 *
 * Reads the clock (days left), in `parse`, like `http_health`.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import { z } from "zod";
import type { CommandResult } from "../exec/plan.ts";
import { destinationSchema } from "./diagnostics.ts";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";

const DAY_MS = 86_400_000;
const IP = /^(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]*:[0-9A-Fa-f:]*)$/;
const PEM = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;
const VERIFY = /^Verify return code: (\d+) \(([^)\n]*)\)/m;
const SESSION = /^(?:New|Reused), (TLSv[\d.]+|SSLv3), Cipher is (\S+)/m;

/** The SNI name: a DNS name only (an address is never sent as SNI). */
const sniSchema = destinationSchema.refine((name) => !IP.test(name), {
  error: 'Invalid sni: expected a DNS name such as "db-1.internal", not an address',
});

const certSchema = z.object({
  subject: z.string(),
  issuer: z.string(),
  sans: z.array(z.string()),
  not_before: z.string(),
  not_after: z.string(),
  days_left: z.number(),
  sha256: z.string(),
});

type Cert = z.infer<typeof certSchema>;

/** The certificate that `host:port` presents to the target, and its chain. */
export const tlsCheck = defineOperation({
  name: "tls_check",
  title: "TLS certificate check",
  description:
    "From the target, a TLS handshake with `host`:`port` (SNI `sni`, else host if a name) via openssl s_client. Returns the leaf certificate (subject, issuer, SANs, validity, days left), chain length and the target's verify result, or why it could not connect.",
  input: z.strictObject({
    host: destinationSchema,
    port: z.int().min(1).max(65535).default(443),
    sni: sniSchema.optional(),
  }),
  output: z.object({
    host: z.string(),
    port: z.int(),
    connected: z.boolean(),
    reason: z.string().nullable(),
    protocol: z.string().nullable(),
    cipher: z.string().nullable(),
    certificate: certSchema.nullable(),
    chain_length: z.int(),
    chain: z.array(certSchema),
    verify: z.object({ ok: z.boolean(), code: z.int(), message: z.string() }).nullable(),
  }),
  paramReach: { sni: { absent: "the host's own name, or none for an address" } },
  capability: "network:diag",
  targetTypes: ["local", "ssh"],
  mutates: true,
  destructive: false,
  programs: ["openssl"],
  plan: (args, target) => ({
    kind: "exec",
    commands: [sClientArgv(args)],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [cmd] = execCommands(result, 1);
    throwCommonFailure(cmd, "openssl");
    return readSClient(cmd, { ...args, now: Date.now() });
  },
  render: (out) => {
    if (!out.connected) return `${out.host}:${out.port}: no TLS (${out.reason})`;
    const cert = out.certificate;
    const verify = out.verify
      ? (out.verify.ok ? "verified" : `not verified: ${out.verify.message}`)
      : "";
    return cert
      ? `${out.host}:${out.port} ${
        out.protocol ?? ""
      } ${cert.subject}, expires ${cert.not_after} (${cert.days_left} days), chain ${out.chain_length}, ${verify}`
      : `${out.host}:${out.port}: no certificate (${out.reason})`;
  },
});

/**
 * The s_client argv: the destination as one `-connect` value (IPv6 in
 * brackets), the name to verify, and every certificate shown.
 *
 * @param args The validated arguments.
 * @returns The argv.
 */
export function sClientArgv(args: { host: string; port: number; sni?: string }): string[] {
  const name = args.sni ?? (IP.test(args.host) ? undefined : args.host);
  const connect = args.host.includes(":")
    ? `[${args.host}]:${args.port}`
    : `${args.host}:${args.port}`;
  return [
    "openssl",
    "s_client",
    "-connect",
    connect,
    ...(name
      ? ["-servername", name, "-verify_hostname", name]
      : ["-noservername", "-verify_ip", args.host]),
    "-showcerts",
  ];
}

function certificate(pem: string, now: number): Cert | null {
  try {
    const cert = new X509Certificate(pem);
    const notAfter = Date.parse(cert.validTo);
    const notBefore = Date.parse(cert.validFrom);
    if (!Number.isFinite(notAfter) || !Number.isFinite(notBefore)) return null;
    return {
      subject: cert.subject.replaceAll("\n", ", "),
      issuer: cert.issuer.replaceAll("\n", ", "),
      sans: (cert.subjectAltName ?? "").split(", ").filter((s) => s !== ""),
      not_before: new Date(notBefore).toISOString(),
      not_after: new Date(notAfter).toISOString(),
      days_left: Math.floor((notAfter - now) / DAY_MS * 10) / 10,
      sha256: cert.fingerprint256,
    };
  } catch {
    return null;
  }
}

/**
 * Reads what s_client printed.
 *
 * @param cmd Its result: stdout holds the chain's PEM blocks (`-showcerts`),
 *   stderr the connection errors.
 * @param context The destination and the time to count days from.
 * @returns The structured result; a connection that failed is `connected: false`, not an error.
 * @throws {OperationError} `bad_output` when a certificate was printed but cannot be read.
 */
export function readSClient(
  cmd: CommandResult,
  context: { host: string; port: number; now: number },
) {
  const { stdout } = cmd;
  const base = { host: context.host, port: context.port };
  const pems = stdout.match(PEM) ?? [];
  if (!/^CONNECTED\(/m.test(stdout)) {
    return {
      ...base,
      connected: false,
      reason: connectReason(cmd),
      protocol: null,
      cipher: null,
      certificate: null,
      chain_length: 0,
      chain: [],
      verify: null,
    };
  }
  const chain = pems.map((pem) => certificate(pem, context.now));
  if (chain.some((cert) => cert === null)) {
    throw new OperationError(
      "bad_output",
      "The server sent a certificate openssl printed but we cannot read",
    );
  }
  const verify = VERIFY.exec(stdout);
  const session = SESSION.exec(stdout);
  return {
    ...base,
    connected: true,
    reason: pems.length === 0 ? `no certificate: ${firstErrorLine(cmd)}` : null,
    protocol: session?.[1] ?? null,
    cipher: session?.[2] === "(NONE)" ? null : session?.[2] ?? null,
    certificate: chain[0] ?? null,
    chain_length: chain.length,
    chain: chain as Cert[],
    // s_client says "0 (ok)" when there was nothing to verify.
    verify: verify && pems.length > 0
      ? { ok: verify[1] === "0", code: Number(verify[1]), message: verify[2] }
      : null,
  };
}

function connectReason(cmd: CommandResult): string {
  const { stderr } = cmd;
  if (/refused|errno=111/i.test(stderr)) return "refused";
  if (/timed out|errno=110/i.test(stderr)) return "timed out";
  if (/No route|unreachable|errno=11[3]/i.test(stderr)) return "no route";
  if (/lookup|not known|resolve|Name or service/i.test(stderr)) return "unknown name";
  return firstErrorLine(cmd);
}
