/**
 * Checks, at load, the configuration references that would otherwise fail
 * only when a call first uses them: SSH private keys (parsed with their
 * passphrase), known_hosts files, agent and Docker sockets, and the PEM material of
 * Docker, HTTP and Proxmox TLS settings (a Docker client certificate must match its
 * key). Each problem is reported at the `file:line:column` of its key.
 *
 * Runs after secret references are resolved (`check-config --no-resolve`
 * skips it, as it skips reading secrets).
 *
 * @module
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import type { ConfigProblem } from "./errors.ts";
import { describeReadError } from "./read_error.ts";
import type { Secret } from "./secret.ts";
import type { TargetsFile } from "./targets_schema.ts";
import { formatPath, type YamlSource } from "./yaml_source.ts";

type Path = (string | number)[];

const CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Finds the references in a validated registry that cannot work.
 *
 * Needs `read` on known_hosts files and on agent and Docker socket paths.
 *
 * @param config The registry, secrets resolved.
 * @param source Where its keys are, for positions.
 * @returns The problems found (none when everything can be used).
 */
export async function checkReferences(
  config: TargetsFile,
  source: YamlSource,
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const report = (path: Path, message: string) =>
    problems.push({ path: formatPath(path), message, position: source.positionOf(path) });
  const withKeys = config.targets.filter((t) => t.type === "ssh" && t.connection.key);
  // ssh2 is loaded only when some target has a key (`serve` otherwise never needs it here).
  const parseKey = withKeys.length > 0 ? (await import("ssh2")).utils.parseKey : undefined;

  // A fleet shares a few keys and known_hosts files: check each once (10,000 targets, one key).
  const keyChecks = new Map<string, string | undefined>();
  const knownHostsReads = new Map<string, Promise<unknown>>();
  for (const [index, target] of config.targets.entries()) {
    const at = (...rest: Path): Path => ["targets", index, "connection", ...rest];
    if (target.type === "ssh") {
      const c = target.connection;
      if (c.key && parseKey) {
        const id = `${c.key.source}\0${c.passphrase?.source ?? ""}`;
        if (!keyChecks.has(id)) keyChecks.set(id, keyProblem(parseKey, c.key, c.passphrase));
        const problem = keyChecks.get(id);
        if (problem) report(at("key"), `Cannot use the key from ${c.key}: ${problem}`);
      }
      if (c.known_hosts !== undefined && c.host_key === undefined) {
        let read = knownHostsReads.get(c.known_hosts);
        if (read === undefined) {
          knownHostsReads.set(c.known_hosts, read = Deno.readTextFile(c.known_hosts));
          read.catch(() => {});
        }
        try {
          await read;
        } catch (error) {
          report(
            at("known_hosts"),
            `Cannot read known_hosts file ${JSON.stringify(c.known_hosts)}: ${
              describeReadError(error)
            }`,
          );
        }
      }
      if (c.agent !== undefined) {
        const problem = await notSocket(c.agent);
        if (problem) report(at("agent"), `Invalid agent ${JSON.stringify(c.agent)}: ${problem}`);
      }
    } else if (target.type === "docker" && "socket" in target.connection) {
      const socket = target.connection.socket;
      const problem = await notSocket(socket);
      if (problem) report(at("socket"), `Invalid socket ${JSON.stringify(socket)}: ${problem}`);
    } else if (target.type === "docker" && "tls" in target.connection) {
      const { ca, cert, key } = target.connection.tls;
      const caProblem = certificatesProblem(ca.reveal());
      if (caProblem) report(at("tls", "ca"), `Invalid CA from ${ca}: ${caProblem}`);
      const certProblem = certificatesProblem(cert.reveal());
      if (certProblem) {
        report(at("tls", "cert"), `Invalid certificate from ${cert}: ${certProblem}`);
      }
      let privateKey;
      try {
        privateKey = createPrivateKey(key.reveal());
      } catch {
        report(
          at("tls", "key"),
          `Invalid key from ${key}: expected a PEM private key, found something else`,
        );
      }
      if (!certProblem && privateKey && !certificateMatches(cert.reveal(), privateKey)) {
        report(
          at("tls", "key"),
          `Invalid key from ${key}: it does not belong to the certificate from ${cert}`,
        );
      }
    } else if (
      (target.type === "http" || target.type === "proxmox") && target.connection.tls.ca
    ) {
      const ca = target.connection.tls.ca;
      const problem = certificatesProblem(ca.reveal());
      if (problem) report(at("tls", "ca"), `Invalid CA from ${ca}: ${problem}`);
    }
  }
  return problems;
}

/**
 * Why a path cannot be a unix socket, or undefined. A missing socket is
 * allowed (an agent or dockerd may start after the gateway); something else
 * at that path never works.
 */
async function notSocket(path: string): Promise<string | undefined> {
  const info = await Deno.lstat(path).catch(() => undefined);
  if (!info || info.isSocket) return undefined;
  return `expected a unix socket, found a ${
    info.isDirectory ? "directory" : info.isFile ? "regular file" : "special file"
  }`;
}

type ParseKey = typeof import("ssh2").utils.parseKey;

/** Why a private key cannot be used, or undefined when it can. */
function keyProblem(parseKey: ParseKey, key: Secret, passphrase?: Secret): string | undefined {
  let parsed;
  try {
    parsed = parseKey(key.reveal(), passphrase?.reveal());
  } catch {
    parsed = new Error("unreadable key");
  }
  if (parsed instanceof Error) {
    // ssh2's messages name the format or the passphrase, never key material.
    return `expected an OpenSSH or PEM private key (ed25519, ECDSA or RSA)${
      passphrase ? " and its passphrase" : ""
    }, found an error: ${parsed.message}`;
  }
  const one = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!one?.isPrivateKey()) return "expected a private key, found a public key";
  return undefined;
}

/** Why PEM text is not one or more X.509 certificates, or undefined. */
function certificatesProblem(pem: string): string | undefined {
  const blocks = pem.match(CERTIFICATE);
  if (!blocks) return "expected PEM certificates (-----BEGIN CERTIFICATE-----), found none";
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return "expected PEM certificates, found a certificate block that does not parse";
    }
  }
  return undefined;
}

function certificateMatches(pem: string, key: ReturnType<typeof createPrivateKey>): boolean {
  try {
    return new X509Certificate(pem.match(CERTIFICATE)![0]).checkPrivateKey(key);
  } catch {
    // Not implemented for this key type: leave it to the connection.
    return true;
  }
}
