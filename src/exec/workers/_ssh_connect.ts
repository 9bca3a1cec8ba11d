/**
 * Opening one authenticated SSH connection: host key check, credentials,
 * `setNoDelay(true)`, per-host pacing of handshakes and retries of refused
 * ones (sshd's `MaxStartups` drops bursts of simultaneous connects).
 *
 * @module
 */
import type { Duplex } from "node:stream";
// @ts-types="@types/ssh2"
import {
  type AgentAuthMethod,
  Client,
  type ParsedKey,
  type PasswordAuthMethod,
  type PublicKeyAuthMethod,
  type ServerHostKeyAlgorithm,
} from "ssh2";

type AuthMethod = PublicKeyAuthMethod | PasswordAuthMethod | AgentAuthMethod;
import { Semaphore } from "../semaphore.ts";
import type { SshTargetConfig } from "./_ssh_config.ts";
import { mapConnectError, SshError } from "./_ssh_errors.ts";
import {
  type HostKeyPolicy,
  hostKeyPolicy,
  type HostKeyVerdict,
  type KnownHostLine,
  parseKnownHosts,
} from "./_ssh_host_keys.ts";
import { usableKey } from "./_ssh_keys.ts";

/** What {@linkcode prepare} works out once per target. */
export interface Prepared {
  readonly policy: HostKeyPolicy;
  /** The parsed, decrypted private key, when one is configured. */
  readonly privateKey?: ParsedKey;
}

/** Handshakes in flight at once per `host:port`. */
export const HANDSHAKES_PER_HOST = 4;
/** Attempts for a connect the server dropped before its handshake. */
const ATTEMPTS = 6;

const gates = new Map<string, Semaphore>();

/**
 * Private keys and known_hosts files parsed once per distinct content: a
 * fleet usually shares one key and one known_hosts file, and parsing them
 * again for each of hundreds of targets cost CPU on a cold fan-out and kept a
 * parsed key per target. Keyed by the content itself, so nothing stale is
 * ever used; emptied when the worker is configured again.
 */
const parsedKeys = new Map<string, ParsedKey>();
const parsedKnownHosts = new Map<string, readonly KnownHostLine[]>();

/** Drops the parsed keys and known_hosts files (the worker got a new configuration). */
export function forgetParsed(): void {
  parsedKeys.clear();
  parsedKnownHosts.clear();
}

function knownHostsOnce(text: string): readonly KnownHostLine[] {
  let lines = parsedKnownHosts.get(text);
  if (!lines) parsedKnownHosts.set(text, lines = parseKnownHosts(text));
  return lines;
}

function keyOnce(text: string, passphrase: string | undefined): ParsedKey {
  // NUL cannot occur in a PEM or OpenSSH key text: the pair is unambiguous.
  const id = `${text}\0${passphrase ?? ""}\0${passphrase === undefined ? 0 : 1}`;
  let key = parsedKeys.get(id);
  if (!key) parsedKeys.set(id, key = usableKey(text, passphrase));
  return key;
}

/** `host:port` as written in messages and Deno's net permission. */
export function addressOf(target: Pick<SshTargetConfig, "host" | "port">): string {
  return target.host.includes(":")
    ? `[${target.host}]:${target.port}`
    : `${target.host}:${target.port}`;
}

/**
 * Checks the target's credentials and host key settings once, before any connect.
 *
 * @param target The target.
 * @returns The host key policy and the usable private key.
 * @throws {SshError} `untrusted` when known_hosts was unreadable, `auth_failed` when the key cannot be used.
 */
export function prepare(target: SshTargetConfig): Prepared {
  const knownHosts = target.knownHostsFile;
  if (knownHosts?.error !== undefined && target.hostKey === undefined) {
    throw new SshError("untrusted", knownHosts.error);
  }
  let privateKey: ParsedKey | undefined;
  if (target.privateKey !== undefined) {
    try {
      privateKey = keyOnce(target.privateKey.text, target.passphrase);
    } catch (error) {
      const detail = (error as Error).message;
      const encrypted = /passphrase|encrypted|decrypt/i.test(detail);
      throw new SshError(
        "auth_failed",
        encrypted
          ? `Cannot use the private key of target ${
            JSON.stringify(target.id)
          }: expected the right passphrase for the encrypted key`
          : `Cannot use the private key of target ${
            JSON.stringify(target.id)
          }: expected an ed25519, ECDSA or RSA key in OpenSSH or PEM format`,
        { detail },
      );
    }
  }
  const policy = hostKeyPolicy({
    pin: target.hostKey,
    knownHosts: knownHosts?.text,
    host: target.host,
    port: target.port,
    parse: knownHostsOnce,
  });
  return { policy, privateKey };
}

function untrusted(target: SshTargetConfig, seen: HostKeyVerdict): SshError {
  const at = addressOf(target);
  const found = `found ${seen.keyType} key ${seen.fingerprint}`;
  const why = target.hostKey !== undefined
    ? `expected the pinned ${target.hostKey}, ${found}`
    : seen.reason === "revoked"
    ? `${found}, which known_hosts marks as revoked`
    : seen.reason === "changed"
    ? `${found}, which differs from the key known_hosts lists for this host`
    : `${found}, which is not in known_hosts`;
  return new SshError("untrusted", `Host key of ${at} is not trusted: ${why}`);
}

/** Login methods in order: key, password, agent. The key goes in parsed (see `_ssh_keys.ts`). */
function authMethods(target: SshTargetConfig, key?: ParsedKey): AuthMethod[] {
  const username = target.user;
  const methods: AuthMethod[] = [];
  if (key) methods.push({ type: "publickey", username, key });
  if (target.password !== undefined) {
    methods.push({ type: "password", username, password: target.password });
  }
  if (target.agent !== undefined) methods.push({ type: "agent", username, agent: target.agent });
  return methods;
}

function dialOnce(
  target: SshTargetConfig,
  { policy, privateKey }: Prepared,
  options: { sock?: Duplex; timeoutMs: number },
): Promise<Client> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let seen: HostKeyVerdict | undefined;
    const context = {
      address: addressOf(target),
      user: target.user,
      connectTimeoutMs: target.connectTimeoutMs,
    };
    const onError = (error: unknown) => {
      // Tearing down may emit more errors; an unheard one would crash the worker.
      client.on("error", () => {});
      client.destroy();
      reject(seen && !seen.trusted ? untrusted(target, seen) : mapConnectError(error, context));
    };
    client.once("error", onError);
    client.once("ready", () => {
      client.removeListener("error", onError);
      resolve(client);
    });
    try {
      client.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        authHandler: authMethods(target, privateKey),
        sock: options.sock,
        readyTimeout: Math.max(100, options.timeoutMs),
        keepaliveInterval: target.keepaliveMs,
        keepaliveCountMax: 3,
        algorithms: policy.algorithms
          ? { serverHostKey: policy.algorithms as ServerHostKeyAlgorithm[] }
          : undefined,
        hostVerifier: (key: Uint8Array) => {
          const verdict = policy.verify(key);
          seen = verdict;
          return verdict.trusted;
        },
      });
      client.setNoDelay(true);
    } catch (error) {
      onError(error);
    }
  });
}

/**
 * Opens and authenticates a connection, at most {@linkcode HANDSHAKES_PER_HOST}
 * handshakes per address at once, retrying ones the server dropped with a
 * small backoff until `connect_timeout_ms` has passed.
 *
 * @param target The target.
 * @param options What {@linkcode prepare} returned and, for a jump, a function opening the forwarded stream.
 * @returns A ready client with Nagle off.
 * @throws {SshError} `unreachable`, `untrusted`, `auth_failed`.
 */
export async function connect(
  target: SshTargetConfig,
  options: { prepared: Prepared; tunnel?: () => Promise<Duplex> },
): Promise<Client> {
  const deadline = Date.now() + target.connectTimeoutMs;
  const key = addressOf(target);
  let gate = gates.get(key);
  if (!gate) gates.set(key, gate = new Semaphore(HANDSHAKES_PER_HOST));
  for (let attempt = 1;; attempt++) {
    const backoff = 25 * 2 ** attempt + Math.random() * 25;
    const release = await gate.acquire();
    try {
      const sock = options.tunnel ? await options.tunnel() : undefined;
      return await dialOnce(target, options.prepared, { sock, timeoutMs: deadline - Date.now() });
    } catch (error) {
      if (
        !(error instanceof SshError) || !error.retryable || attempt >= ATTEMPTS ||
        Date.now() + backoff >= deadline
      ) throw error;
    } finally {
      release();
    }
    await new Promise((resolve) => setTimeout(resolve, backoff));
  }
}
