/**
 * Reads an SSH server's host key fingerprints so an operator can pin one
 * (`tailops ssh-keyscan TARGET`). Nothing is trusted here: the keys are only
 * printed, for the operator to check out of band.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
// @ts-types="@types/ssh2"
import { Client, type ServerHostKeyAlgorithm } from "ssh2";
import { mapConnectError, SshError } from "./workers/_ssh_errors.ts";
import { fingerprintOf, keyTypeOf } from "./workers/_ssh_host_keys.ts";

/** One host key the server offered. */
export interface ScannedKey {
  /** Key type, e.g. `ssh-ed25519`. */
  readonly keyType: string;
  /** `SHA256:...`, the form `host_key` takes. */
  readonly fingerprint: string;
}

/** Host key algorithm families, in the order the SSH worker prefers them. */
const FAMILIES: readonly ServerHostKeyAlgorithm[][] = [
  ["ssh-ed25519"],
  ["ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"],
  ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
];

function offered(host: string, port: number, family: ServerHostKeyAlgorithm[], timeoutMs: number) {
  return new Promise<ScannedKey | null>((resolve, reject) => {
    const client = new Client();
    let seen: ScannedKey | null = null;
    client.on("error", (error: Error & { level?: string }) => {
      client.destroy();
      if (seen) return resolve(seen);
      // The server has no key of this family: not an error for a scan.
      if (/no matching|handshake failed/i.test(error.message)) return resolve(null);
      reject(
        mapConnectError(error, {
          address: `${host}:${port}`,
          user: "",
          connectTimeoutMs: timeoutMs,
        }),
      );
    });
    client.on("ready", () => {
      client.end();
      resolve(seen);
    });
    client.connect({
      host,
      port,
      username: "tailops-keyscan",
      readyTimeout: timeoutMs,
      algorithms: { serverHostKey: family },
      hostVerifier: (key: Buffer) => {
        seen = { keyType: keyTypeOf(key), fingerprint: fingerprintOf(key) };
        return false; // Never log in: we only wanted the key.
      },
    });
    client.setNoDelay(true);
  });
}

/**
 * Connects to an SSH server once per key family and collects the host keys
 * it offers, without authenticating. The first entry is the key the SSH
 * worker will be shown, so it is the one to pin.
 *
 * Needs `net` for `host:port`.
 *
 * @param host Host name or address.
 * @param port TCP port.
 * @param options `timeoutMs` per handshake (default 10 000).
 * @returns The keys, in the worker's order of preference.
 * @throws {SshError} `unreachable` when the server cannot be reached or offers no key.
 */
export async function scanHostKey(
  host: string,
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<ScannedKey[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const results = await Promise.allSettled(FAMILIES.map((f) => offered(host, port, f, timeoutMs)));
  const keys = results.flatMap((r) => r.status === "fulfilled" && r.value ? [r.value] : []);
  if (keys.length > 0) return keys;
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  throw new SshError(
    "unreachable",
    `Cannot scan ${host}:${port}: expected a host key, found none offered`,
  );
}
