/**
 * A fleet for end-to-end SSH tests: N real sshd instances from the testbed on
 * distinct loopback addresses, a client key, a targets file of ssh targets
 * (host keys pinned or listed in a hashed known_hosts file), a policy, the
 * real gateway (`deno run -P=gateway --no-prompt main.ts serve --transport
 * http ...`) and an SDK client connected to it with the admin token.
 *
 * Everything started here is stopped by PID on disposal, passed or failed;
 * temp dirs are removed.
 *
 * @module
 */
import { generateClientKey, type SshdInstance, SshdTestbed } from "../../scripts/testbed/sshd.ts";
import { type Client, connectHttp, type RunningGateway, startGateway } from "./_gateway.ts";

/** One ssh target of the fleet's targets file. */
export interface FleetTarget {
  readonly id: string;
  /** Index of the sshd instance it connects to. */
  readonly instance: number;
  readonly tags?: readonly string[];
  readonly groups?: readonly string[];
  readonly capabilities?: readonly string[];
  /** Verify against the fleet's hashed known_hosts file instead of a pin. */
  readonly knownHosts?: boolean;
  /** Pin this fingerprint instead of the instance's real one. */
  readonly pin?: string;
  /** `sudo:` value as YAML (`none`, `all`, `[a, b]`). */
  readonly sudo?: string;
  /** Allowed roots for read_file/list_directory. */
  readonly roots?: readonly string[];
  /** Write roots for file_write. */
  readonly writeRoots?: readonly string[];
  /** Connect here instead of the instance (e.g. a socket that never speaks SSH). */
  readonly address?: { readonly host: string; readonly port: number };
  /** This target's `connect_timeout_ms`, instead of the fleet's. */
  readonly connectTimeoutMs?: number;
}

/** What {@linkcode startFleet} needs. */
export interface FleetOptions {
  /** sshd instances to start, on 127.0.0.2, 127.0.0.3, ... */
  readonly instances: number;
  /** The targets, in registry order; given the files dir so roots can point into it. */
  readonly targets: (filesDir: string) => readonly FleetTarget[];
  /** Policy YAML. */
  readonly policy: string;
  /** Connect timeout of every target (ms). */
  readonly connectTimeoutMs?: number;
  /** Extra environment for the gateway (e.g. `TAILOPS_OPERATIONS`). */
  readonly env?: Record<string, string | null>;
  /** More targets file lines, appended under `targets:` (e.g. docker engines). */
  readonly extraTargets?: readonly string[];
  /** Per sshd instance: environment its sessions get (sshd `SetEnv`). */
  readonly sessionEnv?: readonly (Readonly<Record<string, string>> | undefined)[];
  /** sudoers lines the sshd instances see (their own mount namespace; see `SshdOptions`). */
  readonly sudoers?: string;
}

/** A running fleet: sshd instances, the gateway and a connected client. */
export interface Fleet extends AsyncDisposable {
  readonly testbed: SshdTestbed;
  readonly gateway: RunningGateway;
  readonly client: InstanceType<typeof Client>;
  /** A world-readable directory the ssh user can read: roots point here. */
  readonly filesDir: string;
  /** The targets as written, in registry order. */
  readonly targets: readonly FleetTarget[];
  /** The sshd instance a target connects to. */
  instanceOf(id: string): SshdInstance;
  /** The testbed index of that instance (for `testbed.kill` and `testbed.restart`). */
  instanceIndex(id: string): number;
  /** Closes the client, stops the gateway and every sshd, removes temp dirs. */
  close(): Promise<void>;
}

function yamlList(items: readonly string[]): string {
  return `[${items.join(", ")}]`;
}

function targetYaml(
  target: FleetTarget,
  testbed: SshdTestbed,
  context: { keyFile: string; knownHostsFile: string; connectTimeoutMs: number },
): string[] {
  const instance = target.address ?? testbed.instances[target.instance];
  const verify = target.knownHosts
    ? `      known_hosts: ${context.knownHostsFile}`
    : `      host_key: "${target.pin ?? testbed.hostKeys[0].fingerprint}"`;
  return [
    `  - id: ${target.id}`,
    "    type: ssh",
    `    capabilities: ${yamlList(target.capabilities ?? ["system:read"])}`,
    `    tags: ${yamlList(target.tags ?? [])}`,
    `    groups: ${yamlList(target.groups ?? [])}`,
    "    connection:",
    `      host: ${instance.host}`,
    `      port: ${instance.port}`,
    `      user: ${testbed.user}`,
    `      key: "file:${context.keyFile}"`,
    verify,
    `      connect_timeout_ms: ${target.connectTimeoutMs ?? context.connectTimeoutMs}`,
    ...(target.sudo ? [`    sudo: ${target.sudo}`] : []),
    ...(target.roots || target.writeRoots
      ? [
        "    files:",
        `      roots: ${yamlList(target.roots ?? [])}`,
        `      write_roots: ${yamlList(target.writeRoots ?? [])}`,
      ]
      : []),
  ];
}

/**
 * known_hosts lines for every instance (`[host]:port type key`), hashed with `ssh-keygen -H`.
 */
async function writeKnownHosts(testbed: SshdTestbed, file: string): Promise<void> {
  const lines = testbed.instances.flatMap((instance) =>
    testbed.hostKeys.map((key) =>
      `[${instance.host}]:${instance.port} ${key.publicKey.split(" ").slice(0, 2).join(" ")}`
    )
  );
  await Deno.writeTextFile(file, lines.join("\n") + "\n");
  const out = await new Deno.Command("ssh-keygen", {
    args: ["-H", "-f", file],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`Cannot hash known_hosts: ${new TextDecoder().decode(out.stderr)}`);
  }
  await Deno.remove(`${file}.old`).catch(() => {});
}

/**
 * Starts sshd instances, writes the config files, spawns the gateway and
 * connects an SDK client. Use with `await using fleet = await startFleet(...)`.
 *
 * Needs root (the testbed starts sshd and creates the test user), `run` for
 * sshd, ssh-keygen and deno, and loopback `net`.
 *
 * @param options Instances, targets and policy.
 * @returns The running fleet.
 * @throws {Error} When sshd or the gateway does not start (what started is stopped first).
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-fleet-" });
  await Deno.chmod(dir, 0o755);
  const filesDir = `${dir}/files`;
  let testbed: SshdTestbed | undefined;
  let gateway: RunningGateway | undefined;
  const close = async () => {
    try {
      await gateway?.[Symbol.asyncDispose]();
    } finally {
      await testbed?.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };
  try {
    await Deno.mkdir(`${filesDir}/sub`, { recursive: true, mode: 0o755 });
    await Deno.chmod(filesDir, 0o755);
    await Deno.writeTextFile(`${filesDir}/hello.txt`, "hello from the fleet\n", { mode: 0o644 });
    const key = await generateClientKey(dir, "ed25519");
    testbed = await SshdTestbed.start({
      authorizedKeys: [key.publicKey],
      count: options.instances,
      distinctAddresses: true,
      setEnv: options.sessionEnv,
      sudoers: options.sudoers,
    });
    const knownHostsFile = `${dir}/known_hosts`;
    await writeKnownHosts(testbed, knownHostsFile);
    const targets = options.targets(filesDir);
    const context = {
      keyFile: key.path,
      knownHostsFile,
      connectTimeoutMs: options.connectTimeoutMs ?? 3_000,
    };
    const yaml = [
      "version: 1",
      "targets:",
      ...targets.flatMap((t) => targetYaml(t, testbed!, context)),
      ...options.extraTargets ?? [],
      "",
    ].join("\n");
    gateway = await startGateway({ targets: yaml, policy: options.policy, env: options.env });
    const client = await connectHttp(gateway);
    const bed = testbed;
    const indexOf = (id: string) => {
      const target = targets.find((t) => t.id === id);
      if (!target) throw new RangeError(`No fleet target has the id ${JSON.stringify(id)}`);
      return target.instance;
    };
    const running = gateway;
    const shutdown = async () => {
      await client.close().catch(() => {});
      await close();
    };
    return {
      testbed: bed,
      gateway: running,
      client,
      filesDir,
      targets,
      instanceOf(id) {
        return bed.instances[indexOf(id)];
      },
      instanceIndex: indexOf,
      close: shutdown,
      [Symbol.asyncDispose]: shutdown,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Counts ESTABLISHED TCP connections to `host:port` from the client side, with `ss -tn`.
 *
 * @param host The sshd address.
 * @param port The sshd port.
 * @returns How many connections are open to it.
 */
export async function establishedTo(host: string, port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-Htn", "state", "established", "dst", `${host}:${port}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`ss failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "").length;
}

/** The first lines of a policy that allows every observe-tier operation on every target. */
export const OBSERVE_EVERYTHING: readonly string[] = [
  "version: 1",
  "rules:",
  "  - id: observe-everything",
  "    effect: allow",
  "    tiers: [observe]",
  '    targets: ["*"]',
];

/**
 * A fleet for diagnostics: one sshd target `web-01` and the gateway host
 * `gw`, both tagged `diag` with `network:diag`; observe calls allowed, control
 * calls limited only far above what a test sends, then `rules` (YAML lines
 * under `rules:`).
 *
 * @param rules The test's own rules.
 * @returns Options for {@linkcode startFleet}.
 */
export function diagFleet(rules: readonly string[]): FleetOptions {
  return {
    instances: 1,
    targets: () => [
      { id: "web-01", instance: 0, tags: ["diag"], capabilities: ["network:diag"] },
    ],
    extraTargets: [
      "  - id: gw",
      "    type: local",
      "    capabilities: [network:diag]",
      "    tags: [diag]",
    ],
    policy: [
      OBSERVE_EVERYTHING[0],
      "rate_limits:",
      "  control: { per_minute: 6000 }",
      ...OBSERVE_EVERYTHING.slice(1),
      ...rules,
      "",
    ].join("\n"),
  };
}

/** One target's entry of a tool result, as the fleet tests read it. */
export interface FleetEntry {
  target: string;
  status: string;
  data?: Record<string, unknown>;
  plan?: { argv?: string[][]; remote_command_lines?: string[] };
  error?: { code: string; message: string };
}

/** A tool call's outcome: per-target entries (none when refused before the gate), approval, text. */
export interface FleetCall {
  results: FleetEntry[];
  approval?: { id: string; how_to_approve: string };
  aggregate?: Record<string, unknown>;
  isError: boolean;
  text: string;
}

/**
 * Calls a tool through the fleet's SDK client.
 *
 * @param fleet The fleet.
 * @param name Tool name.
 * @param args Arguments.
 * @returns The structured result's parts and the text.
 */
export async function callFleet(
  fleet: Fleet,
  name: string,
  args: Record<string, unknown>,
): Promise<FleetCall> {
  const raw = await fleet.client.callTool({ name, arguments: args }) as {
    content: { type: string; text?: string }[];
    structuredContent?: Omit<FleetCall, "isError" | "text">;
    isError?: boolean;
  };
  const text = raw.content.map((c) => (c.type === "text" ? c.text ?? "" : "")).join("\n");
  return { results: [], ...raw.structuredContent, isError: !!raw.isError, text };
}
