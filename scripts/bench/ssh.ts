/**
 * Suite "ssh" (issue 14), against real sshd instances from the testbed (one
 * per loopback address 127.0.0.2–201, default `MaxSessions 10` and
 * `MaxStartups`, a test user with an empty home):
 *
 * - sequential one-exec operations through the gateway vs a raw pooled ssh2
 *   exec (Nagle off) plus a bare SDK MCP call, interleaved in one run;
 * - system_status's commands as three raw execs, as one sequence script, and
 *   through the gateway;
 * - 16 calls in flight on one target: failures and calls/s vs the raw floor;
 * - gateway RSS with 100 pooled connections, and per connection;
 * - fan-out of a status operation to 200 targets, cold and warm, vs
 *   `parallel-ssh` (OpenSSH's default key exchange and curve25519-sha256)
 *   and Ansible (`raw` cold and warm, `command` cold), 64 forks.
 *
 * @module
 */
import { fsReadScript } from "../../src/exec/workers/_ssh_fs.ts";
import { commandLine, sequenceScript } from "../../src/exec/ssh_command_line.ts";
import { generateClientKey, SshdTestbed } from "../testbed/sshd.ts";
import { callOk, type Connected, connectHttp } from "./_mcp_client.ts";
import { checkWired, NotWired } from "./_compare.ts";
import { type ServedGateway, spawnGateway, spawnHelper } from "./_process.ts";
import { RawPool, type RawTarget } from "./_raw_ssh.ts";
import {
  AnsibleRuns,
  ensureProgram,
  type FanoutHosts,
  type FanoutRun,
  runPssh,
} from "./_fanout_tools.ts";
import {
  atMost,
  type BenchOptions,
  info,
  type Latencies,
  mb,
  memoryKib,
  ms,
  rate,
  ratio,
  type SuiteReport,
  table,
  timeCalls,
  timeInterleaved,
  zero,
} from "./_util.ts";

const SUITE = "ssh";
/** Targets of the fan-out, one sshd each. */
const FAN = 200;
/** Pooled connections the memory figure is taken at. */
const POOLED = 100;
/** The gateway's most targets at once (`forks` at most 50); the baselines get 64, as Ansible's `-f 64`. */
const GATEWAY_FORKS = 50;
const BASELINE_FORKS = 64;
/** What pssh and Ansible run: the same work as system_status's three commands, in one shell. */
const STATUS_COMMAND = "uname -nr; cat /proc/uptime /proc/loadavg /proc/meminfo; df -kP";

interface Fixture extends FanoutHosts {
  testbed: SshdTestbed;
  privateKey: string;
  file: string;
  targets: string;
}

async function makeFixture(dir: string): Promise<Fixture> {
  await Deno.chmod(dir, 0o755);
  const key = await generateClientKey(dir, "ed25519");
  await Deno.mkdir(`${dir}/files`, { mode: 0o755 });
  const file = `${dir}/files/hello.txt`;
  await Deno.writeTextFile(file, "hello\n", { mode: 0o644 });
  const testbed = await SshdTestbed.start({
    authorizedKeys: [key.publicKey],
    count: FAN,
    distinctAddresses: true,
  });
  const knownHosts = `${dir}/known_hosts`;
  await Deno.writeTextFile(
    knownHosts,
    testbed.instances.flatMap((i) =>
      testbed.hostKeys.map((k) =>
        `[${i.host}]:${i.port} ${k.publicKey.split(" ").slice(0, 2).join(" ")}`
      )
    ).join("\n") + "\n",
  );
  const target = (id: string, index: number, extra: string[] = []) => {
    const i = testbed.instances[index];
    return [
      `  - id: ${id}`,
      "    type: ssh",
      "    capabilities: [system:read, file:read]",
      ...extra,
      `    files: { roots: [${JSON.stringify(`${dir}/files`)}] }`,
      "    connection:",
      `      host: ${i.host}`,
      `      port: ${i.port}`,
      `      user: ${testbed.user}`,
      `      key: ${JSON.stringify(`file:${key.path}`)}`,
      `      known_hosts: ${JSON.stringify(knownHosts)}`,
    ];
  };
  const pad = (n: number) => String(n).padStart(3, "0");
  // `pool-*` are other entries for the first 100 hosts: their own pools, so the memory
  // figure is taken before the fan-out and the fan-out still starts cold.
  const lines = [
    "version: 1",
    "targets:",
    ...target("one", 0, ["    constraints: { concurrency: 16 }"]),
    ...Array.from({ length: FAN }, (_, n) => target(`fan-${pad(n)}`, n, ["    tags: [fan]"]))
      .flat(),
    ...Array.from({ length: POOLED }, (_, n) => target(`pool-${pad(n)}`, n, ["    tags: [pool]"]))
      .flat(),
  ];
  const targets = `${dir}/targets.yaml`;
  await Deno.writeTextFile(targets, lines.join("\n") + "\n");
  return {
    dir,
    testbed,
    hosts: testbed.instances,
    user: testbed.user,
    keyPath: key.path,
    privateKey: key.privateKey,
    knownHosts,
    file,
    targets,
  };
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

/** Established TCP connections of a process to the sshd instances' ports. */
async function countSshConnections(pid: number, f: Fixture): Promise<number> {
  const ports = new Set(f.testbed.instances.map((i) => `${i.host}:${i.port}`));
  const out = await new Deno.Command("ss", {
    args: ["-Htnp", "state", "established"],
    stdout: "piped",
  })
    .output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((line) => {
    if (!line.includes(`pid=${pid},`)) return false;
    const fields = line.trim().split(/\s+/);
    return fields.some((field) => ports.has(field));
  }).length;
}

/** Runs system_status on every target with the tag; throws unless every one succeeded. */
async function fanOut(client: Connected, tag: string): Promise<number> {
  const t0 = performance.now();
  const out = await callOk(
    client.client,
    "system_status",
    {
      targets: `tag:${tag}`,
      forks: GATEWAY_FORKS,
    },
    "ok",
    600_000,
  ) as { results: { status: string }[] };
  const wall = performance.now() - t0;
  const ok = out.results.filter((r) => r.status === "ok").length;
  if (ok !== out.results.length) {
    throw new Error(
      `Fan-out to tag:${tag}: expected every target ok, found ${ok} of ${out.results.length}`,
    );
  }
  return wall;
}

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer iterations.
 * @returns Tables and metrics, or `skipped` when the ssh executor is not wired.
 */
export async function runSsh(options: BenchOptions): Promise<SuiteReport> {
  const sequential = options.quick ? 100 : 200;
  const inFlight = 200;
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-ssh-" });
  const stops: (() => Promise<void>)[] = [];
  try {
    const f = await makeFixture(dir);
    stops.push(() => f.testbed.stop());
    let gateway: ServedGateway;
    try {
      gateway = await spawnGateway({ targets: f.targets, stateDir: `${dir}/state` });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (/ssh/.test(message) && /type|executor/i.test(message)) {
        return {
          title: "ssh",
          blocks: [],
          metrics: [],
          skipped: `gateway refused ssh targets: ${message}`,
        };
      }
      throw error;
    }
    stops.push(gateway.stop);
    const gw = await connectHttp(gateway.url, gateway.token);
    stops.push(gw.close);
    await checkWired(gw, "read_file", { target: "one", path: f.file }, "ssh");
    // Memory first, before thousands of calls have grown the heap: RSS before and after
    // pooling one connection to each of 100 hosts.
    const settle = () => new Promise((r) => setTimeout(r, 1000));
    // One status call first, so what the first call of a tool allocates is not counted per connection.
    await callOk(gw.client, "system_status", { target: "one" });
    await settle();
    const baseConnections = await countSshConnections(gateway.pid, f);
    const baseKib = memoryKib(gateway.pid, "VmRSS") ?? NaN;
    await fanOut(gw, "pool");
    await settle();
    const pooled = await countSshConnections(gateway.pid, f);
    const pooledKib = memoryKib(gateway.pid, "VmRSS") ?? NaN;
    const perConnectionKib = (pooledKib - baseKib) / Math.max(1, pooled - baseConnections);

    const bare = await spawnHelper("bare_server.ts");
    stops.push(bare.stop);
    const bareClient = await connectHttp(`http://127.0.0.1:${bare.port}/mcp`);
    stops.push(bareClient.close);
    const first = f.testbed.instances[0];
    const raw: RawTarget = {
      host: first.host,
      port: first.port,
      user: f.testbed.user,
      privateKey: f.privateKey,
      fingerprints: f.testbed.hostKeys.map((k) => k.fingerprint),
    };
    // Three connections keep each at ≤ 6 channels with 16 in flight: at 8 per
    // connection, sshd (MaxSessions 10) refuses a few percent of opens, since it
    // frees a session slot a moment after the client sees the channel close.
    const rawPool = await RawPool.open(raw, 3);
    stops.push(() => Promise.resolve(rawPool.close()));

    // The exact remote command lines of top_processes and read_file, from their dry runs,
    // so the gateway's own overhead can be told apart from the remote command's cost.
    type DryPlan = {
      remote_command_lines?: string[];
      path?: string;
      roots?: string[];
      offset?: number;
      timeout_ms?: number;
      output_cap_bytes?: number;
    };
    const dryPlan = async (tool: string, args: Record<string, unknown>) => {
      const dry = await callOk(gw.client, tool, { ...args, dry_run: true }, "planned") as {
        results: { plan: DryPlan }[];
      };
      return dry.results[0].plan;
    };
    const psLine = (await dryPlan("top_processes", { target: "one" })).remote_command_lines![0];
    const readPlan = await dryPlan("read_file", { target: "one", path: f.file });
    // The ssh worker runs this script for a read_file plan (see src/exec/workers/ssh.ts).
    const readLine = fsReadScript({
      kind: "fs_read",
      path: readPlan.path!,
      roots: readPlan.roots!,
      offset: readPlan.offset!,
      timeoutMs: readPlan.timeout_ms!,
      outputCapBytes: readPlan.output_cap_bytes!,
    });

    // system_status's commands: three execs (as before), or one sequence script (as now).
    const statusArgv = [
      ["uname", "-nr"],
      ["cat", "/proc/uptime", "/proc/loadavg", "/proc/meminfo"],
      [
        "df",
        "-kP",
      ],
    ];
    const statusScript = sequenceScript(
      { commands: statusArgv, sudo: false },
      "0123456789abcdef0123456789abcdef",
    );

    // 1. Sequential, interleaved.
    const calls = {
      rawStatus3: async () => {
        // df exits 1 when one mount is unreadable; only the round trips count here.
        for (const argv of statusArgv) await rawPool.exec(`${commandLine(argv, false)} || true`);
      },
      rawStatus1: () => rawPool.exec(statusScript),
      gwStatus: async () => {
        await callOk(gw.client, "system_status", { target: "one" });
      },
      rawEcho: () => rawPool.exec("echo hello"),
      rawPs: () => rawPool.exec(psLine),
      rawRead: () => rawPool.exec(readLine),
      bare: async () => {
        await callOk(bareClient.client, "echo", { text: "hello" });
      },
      gwRead: async () => {
        await callOk(gw.client, "read_file", { target: "one", path: f.file });
      },
      gwTop: async () => {
        await callOk(gw.client, "top_processes", { target: "one", limit: 5 });
      },
    };
    for (const call of Object.values(calls)) {
      const warm = await timeCalls(20, 1, call, 30_000);
      if (warm.failures > 0) throw new Error(`Warm-up failed: ${warm.firstError}`);
    }
    const [rawEcho, rawPs, rawRead, bareEcho, gwRead, gwTop, rawStatus3, rawStatus1, gwStatus] =
      await timeInterleaved(
        sequential,
        [
          calls.rawEcho,
          calls.rawPs,
          calls.rawRead,
          calls.bare,
          calls.gwRead,
          calls.gwTop,
          calls.rawStatus3,
          calls.rawStatus1,
          calls.gwStatus,
        ],
        120_000,
      );
    const floor = rawEcho.p50 + bareEcho.p50;
    const readRatio = gwRead.p50 / floor;
    const seqRow = (name: string, l: Latencies, r: string) => [
      name,
      ms(l.p50),
      ms(l.p99),
      rate(l.callsPerSecond),
      String(l.failures),
      r,
    ];
    const seqTable = table(
      [
        "Sequential call (interleaved)",
        "p50",
        "p99",
        "calls/s",
        "failed",
        "vs raw echo + bare MCP p50",
      ],
      [
        seqRow("raw ssh2 exec `echo hello` (pooled, Nagle off)", rawEcho, ""),
        seqRow("raw ssh2 exec of top_processes' command line (`exec ps -eo ...`)", rawPs, ""),
        seqRow("raw ssh2 exec of read_file's command line (its POSIX script)", rawRead, ""),
        seqRow("bare SDK MCP call (`echo` tool)", bareEcho, ""),
        seqRow(
          "gateway `read_file` of a 6-byte file (one exec)",
          gwRead,
          `${ratio(readRatio)}; vs raw read_file line + bare: ${
            ratio(gwRead.p50 / (rawRead.p50 + bareEcho.p50))
          }`,
        ),
        seqRow("raw ssh2: system_status' three commands as three execs (before)", rawStatus3, ""),
        seqRow(
          "raw ssh2: the same as one sequence script (now)",
          rawStatus1,
          `${ratio(rawStatus1.p50 / rawStatus3.p50)} of three execs`,
        ),
        seqRow(
          "gateway `system_status` (one exec)",
          gwStatus,
          `vs raw three execs + bare: ${ratio(gwStatus.p50 / (rawStatus3.p50 + bareEcho.p50))}`,
        ),
        seqRow(
          "gateway `top_processes` (one exec of `ps`)",
          gwTop,
          `${ratio(gwTop.p50 / floor)}; vs raw ps + bare: ${
            ratio(gwTop.p50 / (rawPs.p50 + bareEcho.p50))
          }`,
        ),
      ],
    );

    // 2. 16 in flight on one target (sshd MaxSessions 10).
    const rawConc = await timeCalls(inFlight, 16, calls.rawEcho, 60_000);
    const gwConc = await timeCalls(inFlight, 16, calls.gwRead, 60_000);
    const concTable = table(
      [
        `${inFlight} calls, 16 in flight, one sshd (MaxSessions 10)`,
        "calls/s",
        "p50",
        "p99",
        "failed",
      ],
      [
        [
          "raw ssh2 `echo`, 3 connections × ≤ 6 channels",
          rate(rawConc.callsPerSecond),
          ms(rawConc.p50),
          ms(rawConc.p99),
          String(rawConc.failures),
        ],
        [
          "gateway `read_file` (target concurrency 16, max_channels 8)",
          rate(gwConc.callsPerSecond),
          ms(gwConc.p50),
          ms(gwConc.p99),
          String(gwConc.failures),
        ],
      ],
    );

    // 3. Fan-out to 200 targets: the gateway cold (new connections) and warm, then the baselines.
    const fanLoad = loadAverage();
    const gwCold = await fanOut(gw, "fan");
    const warmRuns = [await fanOut(gw, "fan"), await fanOut(gw, "fan"), await fanOut(gw, "fan")];
    const gwWarm = warmRuns.sort((x, y) => x - y)[1];
    await settle();
    const allConnections = await countSshConnections(gateway.pid, f);
    const allKib = memoryKib(gateway.pid, "VmRSS") ?? NaN;
    const hwmKib = memoryKib(gateway.pid, "VmHWM");

    type Row = { name: string; run?: FanoutRun; skipped?: string };
    const baselines: Row[] = [];
    const psshMissing = await ensureProgram("parallel-ssh", "pssh");
    for (
      const [name, kex] of [
        [
          `parallel-ssh -p ${BASELINE_FORKS}, OpenSSH's default key exchange (sntrup761x25519)`,
          undefined,
        ],
        [
          `parallel-ssh -p ${BASELINE_FORKS}, KexAlgorithms=curve25519-sha256 (as ssh2)`,
          "curve25519-sha256",
        ],
      ] as const
    ) {
      baselines.push(
        psshMissing
          ? { name, skipped: psshMissing }
          : { name, run: await runPssh(f, STATUS_COMMAND, { parallel: BASELINE_FORKS, kex }) },
      );
    }
    const ansibleMissing = await ensureProgram("ansible", "ansible");
    const ansible = new AnsibleRuns(f);
    stops.push(() => ansible.close());
    const forks = BASELINE_FORKS;
    const ansibleRuns: [string, () => Promise<FanoutRun>][] = [
      [
        `ansible -f ${forks} -m raw, cold`,
        () => ansible.run(STATUS_COMMAND, { module: "raw", forks }),
      ],
      [
        `ansible -f ${forks} -m raw, warm (ControlPersist masters from the run before)`,
        () => ansible.run(STATUS_COMMAND, { module: "raw", forks }),
      ],
      [`ansible -f ${forks} -m command, cold`, async () => {
        await ansible.stopMasters();
        // `command` runs no shell: one program, the same as system_status' first command.
        return await ansible.run("cat /proc/uptime /proc/loadavg /proc/meminfo", {
          module: "command",
          forks,
        });
      }],
    ];
    for (const [name, run] of ansibleRuns) {
      baselines.push(
        ansibleMissing ? { name, skipped: ansibleMissing } : { name, run: await run() },
      );
    }
    const endLoad = loadAverage();

    const fanTable = table(
      [
        `Status of ${FAN} loopback sshd instances (load ${fanLoad} before, ${endLoad} after)`,
        "wall time",
        "hosts ok",
        "gateway cold / this",
        "gateway warm / this",
      ],
      [
        [
          `gateway system_status, cold (opens ${FAN} connections), forks ${GATEWAY_FORKS}`,
          ms(gwCold),
          String(FAN),
          "",
          "",
        ],
        [`gateway, warm (pooled connections; median of 3)`, ms(gwWarm), String(FAN), "", ""],
        ...baselines.map(({ name, run, skipped }) =>
          run
            ? [
              name,
              ms(run.wallMs),
              String(run.ok),
              ratio(gwCold / run.wallMs),
              ratio(gwWarm / run.wallMs),
            ]
            : [name, skipped ?? "", "", "", ""]
        ),
      ],
    );
    const rssTable = table(["Gateway memory", "value", "target"], [
      [
        `RSS after start and one call, ${baseConnections} pooled SSH connections (counted with ss)`,
        mb(baseKib),
        "",
      ],
      [`RSS with ${pooled} pooled SSH connections`, mb(pooledKib), "≤ 150 MB"],
      ["RSS added per pooled connection", `${(perConnectionKib / 1024).toFixed(2)} MB`, ""],
      [
        `RSS with ${allConnections} pooled SSH connections, after the suite's calls`,
        mb(allKib),
        "",
      ],
      ["peak RSS during the suite (VmHWM)", mb(hwmKib), ""],
    ]);
    const errors = [gwRead, gwTop, gwConc].map((l) => l.firstError).filter(Boolean);
    const failedBaselines = baselines.filter((b) => b.run && b.run.ok !== FAN);
    const note = [
      "`read_file` is the cheapest operation that runs one remote command: one exec channel " +
      "running a short POSIX script that forks one process (GNU `dd`) for a small file. " +
      "`top_processes` is also one exec but `ps` reads every process on the host, so it is " +
      "heavier than `echo`; the raw exec of each one's exact remote command line (read_file's " +
      "script rebuilt from its dry run) is measured too, so the gateway's own cost shows apart " +
      "from the remote command's. The fan-out runs `system_status` (one exec per host running " +
      "uname, cat of /proc files and df as one sequence script); parallel-ssh and Ansible `raw` " +
      `run the same three commands in one shell (\`${STATUS_COMMAND}\`), Ansible \`command\` ` +
      "runs the `cat` alone (it takes no shell). All use the testbed's known_hosts with " +
      "StrictHostKeyChecking=yes and the same ed25519 key; every sshd keeps OpenSSH's default " +
      "MaxStartups and MaxSessions. Ansible keeps its defaults (ControlPersist masters, stopped " +
      "after the runs).",
      ...(failedBaselines.length > 0
        ? [
          `Baselines with hosts that did not answer: ${
            failedBaselines.map((b) => `${b.name}: ${b.run!.ok}/${FAN}`).join("; ")
          }`,
        ]
        : []),
      ...(errors.length > 0 ? [`First gateway failure: ${errors[0]}`] : []),
    ].join("\n\n");
    const byName = (prefix: string) => baselines.find((b) => b.name.startsWith(prefix))?.run;
    const psshDefault = byName("parallel-ssh -p 64, OpenSSH's default");
    const psshCurve = byName("parallel-ssh -p 64, KexAlgorithms");
    const ansibleRaw = byName("ansible -f 64 -m raw, cold");
    return {
      title: "SSH: gateway vs raw ssh2, parallel-ssh and Ansible",
      blocks: [seqTable, concTable, rssTable, fanTable, note],
      metrics: [
        atMost(SUITE, "read_file p50 / (raw echo p50 + bare MCP p50)", readRatio, 1.3, ratio),
        info(SUITE, "gateway read_file p50", ms(gwRead.p50)),
        info(
          SUITE,
          "read_file p50 / (raw exec of its command line + bare MCP p50)",
          ratio(gwRead.p50 / (rawRead.p50 + bareEcho.p50)),
        ),
        info(
          SUITE,
          "read_file's script / raw echo (raw ssh2 p50)",
          ratio(rawRead.p50 / rawEcho.p50),
        ),
        info(
          SUITE,
          "top_processes p50 / (raw ps + bare MCP p50)",
          ratio(gwTop.p50 / (rawPs.p50 + bareEcho.p50)),
        ),
        info(
          SUITE,
          "system_status commands: one sequence exec / three execs (raw ssh2)",
          ratio(rawStatus1.p50 / rawStatus3.p50),
        ),
        info(
          SUITE,
          "system_status p50 / (raw three execs + bare MCP p50)",
          ratio(gwStatus.p50 / (rawStatus3.p50 + bareEcho.p50)),
        ),
        zero(SUITE, "failures, 200 calls 16 in flight (MaxSessions 10)", gwConc.failures),
        info(
          SUITE,
          "16 in flight calls/s, gateway / raw floor",
          `${rate(gwConc.callsPerSecond)} / ${rate(rawConc.callsPerSecond)}`,
        ),
        atMost(
          SUITE,
          `RSS with ${pooled} pooled connections`,
          pooledKib / 1024,
          150,
          (v) => `${v.toFixed(1)} MB`,
        ),
        info(SUITE, "RSS per pooled connection", `${(perConnectionKib / 1024).toFixed(2)} MB`),
        ...(psshDefault
          ? [
            atMost(
              SUITE,
              `fan-out ${FAN}, gateway cold / parallel-ssh (default kex)`,
              gwCold / psshDefault.wallMs,
              1.3,
              ratio,
            ),
          ]
          : []),
        ...(psshCurve
          ? [
            info(
              SUITE,
              `fan-out ${FAN}, gateway cold / parallel-ssh (curve25519)`,
              ratio(gwCold / psshCurve.wallMs),
            ),
          ]
          : []),
        ...(ansibleRaw
          ? [
            info(
              SUITE,
              `fan-out ${FAN}, ansible raw cold / gateway cold`,
              ratio(ansibleRaw.wallMs / gwCold),
            ),
          ]
          : []),
        info(SUITE, `fan-out ${FAN}, gateway cold`, ms(gwCold)),
        info(SUITE, `fan-out ${FAN}, gateway warm`, ms(gwWarm)),
      ],
    };
  } catch (error) {
    if (error instanceof NotWired) {
      return { title: "ssh", blocks: [], metrics: [], skipped: error.message };
    }
    throw error;
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
