/**
 * Reads when an HTTPS target's certificate expires. Deno's own TLS API
 * (`Deno.TlsConn.handshake()`) reports only the ALPN protocol, and `fetch`
 * exposes nothing about the peer, so this uses Deno's `node:tls`, whose
 * `getPeerCertificate()` gives `valid_to`. The probe makes its own
 * connection, guarded like every other: the address is checked on the TCP
 * socket before the TLS handshake starts, and the chain and name are
 * verified (never `rejectUnauthorized: false`).
 *
 * Needs `net` for the target's host:port only.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { type IpAddress, parseIp } from "./_http_address.ts";

/** What the probe needs. */
export interface CertificateProbe {
  /** Host to connect to (IPv6 without brackets). */
  readonly hostname: string;
  readonly port: number;
  readonly caCerts: readonly string[];
  /** The address guard. */
  readonly addressAllowed: (ip: IpAddress) => boolean;
  /** Ends the probe (deadline or cancel). */
  readonly signal: AbortSignal;
}

/** The certificate's expiry, or why it is unknown. */
export interface CertificateExpiry {
  /** ISO 8601, or `null`. */
  readonly expires: string | null;
  /** Why `expires` is `null`. */
  readonly note?: string;
}

/**
 * Connects, checks the address, completes a verified TLS handshake and reads
 * the leaf certificate's `notAfter`. Never throws: failures become a note.
 *
 * @param probe Where to connect and what to trust.
 * @returns The expiry, or `null` with a note.
 */
export function readCertificateExpiry(probe: CertificateProbe): Promise<CertificateExpiry> {
  return new Promise((resolve) => {
    const sockets: { destroy(): void }[] = [];
    const done = (result: CertificateExpiry) => {
      probe.signal.removeEventListener("abort", onAbort);
      for (const socket of sockets) socket.destroy();
      resolve(result);
    };
    const onAbort = () => done({ expires: null, note: "The certificate probe ran out of time" });
    if (probe.signal.aborted) return onAbort();
    probe.signal.addEventListener("abort", onAbort, { once: true });
    const raw = net.connect({ host: probe.hostname, port: probe.port });
    sockets.push(raw);
    raw.once(
      "error",
      () => done({ expires: null, note: "The certificate probe could not connect" }),
    );
    raw.once("connect", () => {
      const ip = parseIp(raw.remoteAddress ?? "");
      if (!ip || !probe.addressAllowed(ip)) {
        return done({ expires: null, note: "The certificate probe reached a refused address" });
      }
      const literal = parseIp(probe.hostname) !== undefined;
      const secure = tls.connect({
        socket: raw,
        host: probe.hostname,
        servername: literal ? undefined : probe.hostname,
        ca: probe.caCerts.length > 0 ? [...probe.caCerts] : undefined,
        rejectUnauthorized: true,
      });
      sockets.push(secure);
      secure.once("error", () => {
        done({ expires: null, note: "The certificate could not be verified" });
      });
      secure.once("secureConnect", () => {
        const validTo = secure.getPeerCertificate()?.valid_to;
        const date = validTo ? new Date(validTo) : undefined;
        done(
          date && !Number.isNaN(date.getTime())
            ? { expires: date.toISOString() }
            : { expires: null, note: "The certificate has no readable expiry date" },
        );
      });
    });
  });
}
