/**
 * Host key trust for the SSH worker: SHA256 fingerprints, known_hosts
 * parsing (plain, wildcard, negated, `[host]:port` and hashed `|1|salt|hash`
 * entries, `@revoked` markers), and the check ssh2's `hostVerifier` runs.
 * There is no trust on first use: a key that is not pinned or listed is refused.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { compileGlob } from "../../config/glob.ts";

/** One usable known_hosts line. */
export interface KnownHostLine {
  readonly revoked: boolean;
  readonly matches: (name: string) => boolean;
  readonly keyType: string;
  readonly key: Buffer;
}

/** What the verifier decided, with the fingerprint it saw. */
export interface HostKeyVerdict {
  readonly trusted: boolean;
  /** `SHA256:...` of the key the server presented. */
  readonly fingerprint: string;
  /** The key's type, e.g. `ssh-ed25519`. */
  readonly keyType: string;
  /** Why it is not trusted: not listed, different, or revoked. */
  readonly reason?: "unknown" | "changed" | "revoked";
}

/** How one target's host key is checked. */
export interface HostKeyPolicy {
  /** ssh2 `algorithms.serverHostKey` preference, when known_hosts narrows it. */
  readonly algorithms?: string[];
  /** Checks a presented key blob. */
  verify(key: Uint8Array): HostKeyVerdict;
}

/**
 * Computes the OpenSSH fingerprint of a host key blob.
 *
 * @param key The key blob (wire format).
 * @returns `SHA256:` followed by unpadded base64.
 */
export function fingerprintOf(key: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

/**
 * Reads the key type string at the start of a key blob.
 *
 * @param key The key blob.
 * @returns The type, e.g. `ssh-ed25519`, or `"unknown"`.
 */
export function keyTypeOf(key: Uint8Array): string {
  if (key.length < 4) return "unknown";
  const length = new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0);
  if (length > 64 || key.length < 4 + length) return "unknown";
  return new TextDecoder().decode(key.subarray(4, 4 + length));
}

function hostMatcher(field: string): ((name: string) => boolean) | null {
  if (field.startsWith("|1|")) {
    const [, , salt, hash] = field.split("|");
    if (!salt || !hash) return null;
    const saltBytes = Buffer.from(salt, "base64");
    const want = Buffer.from(hash, "base64");
    return (name) => {
      const got = createHmac("sha1", saltBytes).update(name).digest();
      return got.length === want.length && timingSafeEqual(got, want);
    };
  }
  const patterns = field.split(",").filter(Boolean).map((p) => ({
    negated: p.startsWith("!"),
    // known_hosts patterns compare host names without regard to case.
    matches: compileGlob(p.startsWith("!") ? p.slice(1) : p, { caseInsensitive: true }),
  }));
  return (name) => {
    let matched = false;
    for (const { negated, matches } of patterns) {
      if (!matches(name)) continue;
      if (negated) return false;
      matched = true;
    }
    return matched;
  };
}

/**
 * Parses known_hosts text. Lines that cannot be used (comments,
 * `@cert-authority`, malformed) are skipped.
 *
 * @param text File content.
 * @returns The usable lines.
 */
export function parseKnownHosts(text: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0].startsWith("#")) continue;
    let revoked = false;
    if (fields[0].startsWith("@")) {
      if (fields[0] !== "@revoked") continue;
      revoked = true;
      fields.shift();
    }
    const [hosts, keyType, keyText] = fields;
    if (!hosts || !keyType || !keyText) continue;
    const matches = hostMatcher(hosts);
    const key = Buffer.from(keyText, "base64");
    if (matches && keyTypeOf(key) === keyType) lines.push({ revoked, matches, keyType, key });
  }
  return lines;
}

/**
 * The name known_hosts lists a host under: `host` on port 22, else `[host]:port`.
 *
 * @param host Host name or address.
 * @param port TCP port.
 * @returns The lookup name.
 */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

const ALGORITHMS_BY_KEY_TYPE: Readonly<Record<string, readonly string[]>> = {
  "ssh-ed25519": ["ssh-ed25519"],
  "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
  "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
  "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
  "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
};

/**
 * Builds the host key check for one target.
 *
 * @param trust A pinned fingerprint, or known_hosts content with the host and port to look up;
 *   `parse` reads the content (default {@linkcode parseKnownHosts}; the worker passes one that
 *   parses each distinct file once).
 * @returns The policy: host key algorithms to offer and the verifier.
 */
export function hostKeyPolicy(
  trust: {
    pin?: string;
    knownHosts?: string;
    host: string;
    port: number;
    parse?: (text: string) => readonly KnownHostLine[];
  },
): HostKeyPolicy {
  const see = (key: Uint8Array) => ({ fingerprint: fingerprintOf(key), keyType: keyTypeOf(key) });
  if (trust.pin !== undefined) {
    const pin = trust.pin.replace(/=+$/, "");
    return {
      verify: (key) => {
        const seen = see(key);
        return seen.fingerprint === pin
          ? { ...seen, trusted: true }
          : { ...seen, trusted: false, reason: "changed" };
      },
    };
  }
  const names = [knownHostsName(trust.host, trust.port)];
  const lines = (trust.parse ?? parseKnownHosts)(trust.knownHosts ?? "").filter((l) =>
    names.some((n) => l.matches(n))
  );
  const listed = lines.filter((l) => !l.revoked);
  const types = [...new Set(listed.map((l) => l.keyType))];
  const algorithms = Object.keys(ALGORITHMS_BY_KEY_TYPE).filter((t) => types.includes(t))
    .flatMap((t) => ALGORITHMS_BY_KEY_TYPE[t]);
  return {
    algorithms: algorithms.length > 0 ? algorithms : undefined,
    verify: (key) => {
      const seen = see(key);
      const blob = Buffer.from(key);
      if (lines.some((l) => l.revoked && l.key.equals(blob))) {
        return { ...seen, trusted: false, reason: "revoked" };
      }
      if (listed.some((l) => l.key.equals(blob))) return { ...seen, trusted: true };
      return { ...seen, trusted: false, reason: listed.length > 0 ? "changed" : "unknown" };
    },
  };
}
