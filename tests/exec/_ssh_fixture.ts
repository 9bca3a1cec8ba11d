/**
 * Shared setup for SSH executor tests: client keys, real sshd instances from
 * the testbed, a registry parsed from YAML, and an ExecutorHost with the SSH kind.
 *
 * @module
 */
import { parseTargets } from "../../src/config/load.ts";
import type { Registry } from "../../src/config/registry.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import type { ExecPlan, Plan } from "../../src/exec/plan.ts";
import { SSH_KIND } from "../../src/exec/ssh_kind.ts";
import {
  type ClientKey,
  generateClientKey,
  type SshdOptions,
  SshdTestbed,
} from "../../scripts/testbed/sshd.ts";

/** Client keys every fixture makes: env name → key. */
export interface Keys {
  readonly ed25519: ClientKey;
  readonly ecdsa: ClientKey;
  readonly rsa: ClientKey;
  /** ed25519, encrypted with {@linkcode PASSPHRASE}. */
  readonly locked: ClientKey;
}

/** Passphrase of the `locked` key. */
export const PASSPHRASE = "correct horse battery staple";

/** Running sshd instances, keys and an executor host. */
export interface SshFixture {
  readonly dir: string;
  readonly testbed: SshdTestbed;
  readonly keys: Keys;
  readonly registry: Registry;
  readonly host: ExecutorHost;
  /** Runs a plan on a target by id. */
  run(id: string, plan: Plan): Promise<ExecOutcome>;
  /** Stops the host and sshd, removes temp dirs. */
  close(): Promise<void>;
}

/** What a target's YAML can be built from. */
export interface TargetSpec {
  id: string;
  /** Testbed instance index (default 0). */
  instance?: number;
  /** Key env name: ED25519, ECDSA, RSA, LOCKED, STRANGER (not authorized) (default ED25519). */
  key?: string;
  /** Extra `connection` lines (YAML, 6-space indent). */
  connection?: string[];
  /** Extra target lines (YAML, 4-space indent). */
  extra?: string[];
  /** Omit the host_key pin (then give known_hosts in `connection`). */
  noPin?: boolean;
  host?: string;
  port?: number;
}

/**
 * An exec plan with test defaults.
 *
 * @param commands Argvs.
 * @param options Overrides.
 * @returns The plan.
 */
export function execPlan(commands: string[][], options: Partial<ExecPlan> = {}): ExecPlan {
  return {
    kind: "exec",
    commands,
    mode: "all",
    sudo: false,
    timeoutMs: 10_000,
    outputCapBytes: 1 << 20,
    ...options,
  };
}

/**
 * Starts sshd instances and an executor host serving the given targets.
 *
 * @param options sshd options (keys are added) and target specs.
 * @returns The fixture; always `close()` it in a `finally`.
 */
export async function sshFixture(
  options: { sshd?: Partial<SshdOptions>; targets: (testbed: SshdTestbed) => TargetSpec[] },
): Promise<SshFixture> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-ssh-test-" });
  let testbed: SshdTestbed | undefined;
  try {
    const [ed25519, ecdsa, rsa, locked, stranger] = await Promise.all([
      generateClientKey(dir, "ed25519"),
      generateClientKey(dir, "ecdsa"),
      generateClientKey(dir, "rsa"),
      generateClientKey(dir, "ed25519", { passphrase: PASSPHRASE, name: "id_locked" }),
      generateClientKey(dir, "ed25519", { name: "id_stranger" }),
    ]);
    const keys: Keys = { ed25519, ecdsa, rsa, locked };
    testbed = await SshdTestbed.start({
      ...options.sshd,
      authorizedKeys: [ed25519, ecdsa, rsa, locked].map((k) => k.publicKey),
    });
    const tb = testbed;
    const env: Record<string, string> = {
      ED25519: ed25519.privateKey,
      ECDSA: ecdsa.privateKey,
      RSA: rsa.privateKey,
      LOCKED: locked.privateKey,
      PASSPHRASE,
      WRONG_PASSPHRASE: "not the passphrase",
      STRANGER: stranger.privateKey,
    };
    const yaml = [
      "version: 1",
      "targets:",
      ...options.targets(tb).flatMap((spec) => targetYaml(tb, spec)),
    ]
      .join("\n");
    const registry = await parseTargets(yaml, "test.yaml", {
      secrets: { env: (name) => env[name], readFile: (path) => Deno.readTextFile(path) },
      // The worker's own handling of a wrong passphrase or a missing
      // known_hosts file is tested here; loading refuses them since they are
      // config errors (tests/config/references_test.ts).
      checkReferences: false,
    });
    const host = new ExecutorHost(registry, {
      kinds: [SSH_KIND],
      context: { programs: [] },
      watchdogGraceMs: 3_000,
    });
    return {
      dir,
      testbed: tb,
      keys,
      registry,
      host,
      run: (id, plan) => host.run(registry.get(id) as Target, plan),
      close: async () => {
        host.close();
        await tb.stop();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (error) {
    await testbed?.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw error;
  }
}

function targetYaml(testbed: SshdTestbed, spec: TargetSpec): string[] {
  const instance = testbed.instances[spec.instance ?? 0];
  const lines = [
    `  - id: ${spec.id}`,
    "    type: ssh",
    "    capabilities: [system:read]",
    "    connection:",
    `      host: ${spec.host ?? instance.host}`,
    `      port: ${spec.port ?? instance.port}`,
    `      user: ${testbed.user}`,
    `      key: \${${spec.key ?? "ED25519"}}`,
    ...(spec.noPin ? [] : [`      host_key: ${testbed.hostKeys[0].fingerprint}`]),
    ...(spec.connection ?? []),
    ...(spec.extra ?? []),
  ];
  return lines;
}
