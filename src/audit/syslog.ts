/**
 * Sends audit checkpoints to a syslog collector: one RFC 5424 message per
 * checkpoint over UDP, so a copy of each signed chain head lives where the
 * gateway's host cannot rewrite it.
 *
 * @module
 */
import { type AuditRecord, formatRecord } from "./record.ts";

/** Severity "informational". */
const INFO = 6;

/**
 * Formats a checkpoint as an RFC 5424 syslog message: `<PRI>1 TIME - tailops
 * PID checkpoint - RECORD`, the record as the log stores it.
 *
 * @param record The checkpoint record.
 * @param facility Syslog facility number (0–23).
 * @returns The message text.
 */
export function syslogMessage(record: AuditRecord, facility: number): string {
  return `<${facility * 8 + INFO}>1 ${record.time} - tailops ${Deno.pid} checkpoint - ${
    formatRecord(record)
  }`;
}

/**
 * Sends one message to `HOST:PORT` over UDP. Never throws: a failure comes
 * back as its reason. Needs `net` permission for the address.
 *
 * @param address `HOST:PORT` (`[v6]:PORT` for IPv6).
 * @param message The syslog message.
 * @returns `undefined` when sent, else why not.
 */
export function sendSyslog(address: string, message: string): Promise<string | undefined> {
  const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(address);
  if (!match) return Promise.resolve(`expected HOST:PORT, found ${JSON.stringify(address)}`);
  const [, host, port] = match;
  const v6 = host.includes(":");
  // node:dgram binds an ephemeral local port before sending; without the
  // permission it throws where no caller can catch it, so ask first.
  for (const needed of [syslogBindAddress(address), address]) {
    const state = Deno.permissions.querySync({ name: "net", host: needed }).state;
    if (state !== "granted") {
      return Promise.resolve(
        `cannot send to syslog ${address}: expected net permission for ${needed}, found ${state}`,
      );
    }
  }
  // Loaded on the first send: node:dgram costs ~40 ms of every start, and most gateways never ship.
  return import("node:dgram").then(({ default: dgram }) =>
    sendOver(dgram, { address, host, port: Number(port), v6, message })
  );
}

function sendOver(
  dgram: typeof import("node:dgram"),
  to: { address: string; host: string; port: number; v6: boolean; message: string },
): Promise<string | undefined> {
  const { address, host, port, v6, message } = to;
  const socket = dgram.createSocket(v6 ? "udp6" : "udp4");
  return new Promise((resolve) => {
    const done = (reason?: string) => {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      resolve(reason);
    };
    socket.once("error", (error) => done(`cannot send to syslog ${address}: ${error.message}`));
    socket.bind({ address: v6 ? "::" : "0.0.0.0", port: 0 });
    socket.send(message, port, host, (error) => {
      done(error ? `cannot send to syslog ${address}: ${error.message}` : undefined);
    });
  });
}

/**
 * The local address a syslog datagram is sent from (any interface, an
 * ephemeral port): the gateway needs `net` permission for it as well as for
 * the collector's address.
 *
 * @param address The collector's `HOST:PORT`.
 * @returns `0.0.0.0:0`, or `[::]:0` for an IPv6 collector.
 */
export function syslogBindAddress(address: string): string {
  return address.startsWith("[") ? "[::]:0" : "0.0.0.0:0";
}
