/**
 * Suite "ssh" (issue 3), against real sshd instances from the testbed (one
 * per loopback address 127.0.0.2–51, default `MaxSessions 10` and
 * `MaxStartups`, a test user with an empty home):
 *
 * - sequential one-exec operations through the gateway vs a raw pooled ssh2
 *   exec (Nagle off) plus a bare SDK MCP call, interleaved in one run;
 * - 16 calls in flight on one target: failures and calls/s vs the raw floor;
 * - fan-out of a status operation to 50 targets vs `parallel-ssh` and Ansible;
 * - gateway RSS with about 100 pooled connections.
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
const FAN = 50;
/** What pssh and Ansible run: the same work as system_status's three commands, in one shell. */
const STATUS_COMMAND = "uname -nr; cat /proc/uptime /proc/loadavg /proc/meminfo; df -kP";

interface Fixture {
  dir: string;
  testbed: SshdTestbed;
  keyPath: string;
  privateKey: string;
  knownHosts: string;
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
  const pad = (n: number) => String(n).padStart(2, "0");
  const lines = [
    "version: 1",
    "targets:",
    ...target("one", 0, ["    constraints: { concurrency: 16 }"]),
    ...Array.from({ length: FAN }, (_, n) => target(`fan-${pad(n)}`, n, ["    tags: [fan]"]))
      .flat(),
    ...Array.from({ length: FAN }, (_, n) => target(`pool-${pad(n)}`, n, ["    tags: [pool]"]))
      .flat(),
  ];
  const targets = `${dir}/targets.yaml`;
  await Deno.writeTextFile(targets, lines.join("\n") + "\n");
  return { dir, testbed, keyPath: key.path, privateKey: key.privateKey, knownHosts, file, targets };
}

/** Runs a program, returns wall time in ms; throws with its output when it fails. */
async function timeProgram(
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ wallMs: number; stdout: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(program, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - t0;
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    const stderr = new TextDecoder().decode(out.stderr);
    throw new Error(
      `${program} exited with ${out.code}: ${(stderr || stdout).split("\n").slice(-8).join("\n")}`,
    );
  }
  return { wallMs, stdout };
}

function sshOptions(f: Fixture): string[] {
  return [
    `-o UserKnownHostsFile=${f.knownHosts}`,
    "-o GlobalKnownHostsFile=/dev/null",
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
  ];
}

async function runPssh(f: Fixture): Promise<number> {
  const hosts = `${f.dir}/pssh_hosts`;
  await Deno.writeTextFile(
    hosts,
    f.testbed.instances.map((i) => `${i.host}:${i.port}`).join("\n") + "\n",
  );
  const { wallMs, stdout } = await timeProgram("parallel-ssh", [
    ...["-h", hosts, "-p", String(FAN), "-l", f.testbed.user, "-t", "60"],
    ...["-x", `-i ${f.keyPath} ${sshOptions(f).join(" ")}`],
    STATUS_COMMAND,
  ]);
  const ok = stdout.split("\n").filter((l) => l.includes("[SUCCESS]")).length;
  if (ok !== FAN) throw new Error(`parallel-ssh: expected ${FAN} successes, found ${ok}`);
  return wallMs;
}

/** Kills ssh ControlMaster processes Ansible left, found by their control dir. */
function killControlMasters(controlDir: string): void {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(controlDir)) Deno.kill(Number(entry.name), "SIGTERM");
    } catch {
      // Gone, or not ours to read.
    }
  }
}

async function runAnsible(f: Fixture): Promise<number> {
  const inventory = `${f.dir}/inventory.ini`;
  const controlDir = `${f.dir}/ansible-cp`;
  const remoteTmp = `/tmp/${f.dir.split("/").pop()}-ansible`;
  await Deno.mkdir(controlDir);
  await Deno.writeTextFile(
    inventory,
    [
      "[fan]",
      ...f.testbed.instances.map((i, n) => `h${n} ansible_host=${i.host} ansible_port=${i.port}`),
      "[fan:vars]",
      `ansible_user=${f.testbed.user}`,
      `ansible_ssh_private_key_file=${f.keyPath}`,
      `ansible_ssh_common_args='${sshOptions(f).join(" ")}'`,
      "ansible_python_interpreter=/usr/bin/python3",
      "",
    ].join("\n"),
  );
  try {
    const { wallMs, stdout } = await timeProgram(
      "ansible",
      ["fan", "-i", inventory, "-f", String(FAN), "-m", "shell", "-a", STATUS_COMMAND],
      {
        ANSIBLE_HOME: `${f.dir}/ansible-home`,
        ANSIBLE_LOCAL_TEMP: `${f.dir}/ansible-home/tmp`,
        ANSIBLE_REMOTE_TMP: remoteTmp,
        ANSIBLE_SSH_CONTROL_PATH_DIR: controlDir,
        ANSIBLE_HOST_KEY_CHECKING: "True",
        ANSIBLE_NOCOLOR: "1",
        ANSIBLE_RETRY_FILES_ENABLED: "False",
      },
    );
    const ok = stdout.split("\n").filter((l) => / \| CHANGED /.test(l)).length;
    if (ok !== FAN) throw new Error(`ansible: expected ${FAN} hosts CHANGED, found ${ok}`);
    return wallMs;
  } finally {
    killControlMasters(controlDir);
    await Deno.remove(remoteTmp, { recursive: true }).catch(() => {});
  }
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

async function fanOut(client: Connected, tag: string): Promise<number> {
  const t0 = performance.now();
  await callOk(client.client, "system_status", { targets: `tag:${tag}`, forks: FAN });
  return performance.now() - t0;
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

    // 3. Fan-out to 50 targets.
    const gwCold = await fanOut(gw, "fan");
    const gwWarm = await fanOut(gw, "fan");
    const psshMs = await runPssh(f);
    let ansibleMs = NaN;
    let ansibleNote = "";
    try {
      ansibleMs = await runAnsible(f);
    } catch (error) {
      ansibleNote = `Ansible failed: ${error instanceof Error ? error.message : String(error)}`;
    }

    // 4. RSS with ~100 pooled connections (fan-* and pool-* targets, plus `one`).
    await fanOut(gw, "pool");
    await new Promise((r) => setTimeout(r, 1000));
    const connections = await countSshConnections(gateway.pid, f);
    const rssKib = memoryKib(gateway.pid, "VmRSS");
    const hwmKib = memoryKib(gateway.pid, "VmHWM");

    const fanTable = table(
      [
        `system_status-class status on ${FAN} loopback sshd instances`,
        "wall time",
        "gateway cold / this",
        "gateway warm / this",
      ],
      [
        ["gateway, cold (opens 50 connections), `forks: 50`", ms(gwCold), "", ""],
        ["gateway, warm (pooled connections)", ms(gwWarm), "", ""],
        [
          "parallel-ssh -p 50 (OpenSSH, new connections)",
          ms(psshMs),
          ratio(gwCold / psshMs),
          ratio(gwWarm / psshMs),
        ],
        [
          "ansible -f 50 -m shell (new connections)",
          ms(ansibleMs),
          ratio(gwCold / ansibleMs),
          ratio(gwWarm / ansibleMs),
        ],
      ],
    );
    const rssTable = table(["Gateway memory", "value", "target"], [
      [`RSS with ${connections} pooled SSH connections (counted with ss)`, mb(rssKib), "≤ 150 MB"],
      ["peak RSS during the suite (VmHWM)", mb(hwmKib), ""],
    ]);
    const errors = [gwRead, gwTop, gwConc].map((l) => l.firstError).filter(Boolean);
    const note = [
      "`read_file` is the cheapest operation that runs one remote command: one exec channel " +
      "running a short POSIX script (readlink, wc, head). `top_processes` is also one exec but " +
      "`ps` reads every process on the host, so it is heavier than `echo`; the raw exec of " +
      "each one's exact remote command line (read_file's script rebuilt from its dry run) is " +
      "measured too, so the gateway's own cost shows apart from the remote command's. The fan-out runs `system_status` (one exec per host running uname, cat of " +
      "/proc files and df as one sequence script); parallel-ssh and Ansible run the same three commands in one shell " +
      `(\`${STATUS_COMMAND}\`). Both use the testbed's known_hosts with StrictHostKeyChecking=yes ` +
      "and the same ed25519 key. Ansible keeps its defaults (ControlPersist masters, stopped " +
      "after the run).",
      ...(ansibleNote ? [ansibleNote] : []),
      ...(errors.length > 0 ? [`First gateway failure: ${errors[0]}`] : []),
    ].join("\n\n");
    return {
      title: "SSH: gateway vs raw ssh2, parallel-ssh and Ansible",
      blocks: [seqTable, concTable, fanTable, rssTable, note],
      metrics: [
        atMost(SUITE, "read_file p50 / (raw echo p50 + bare MCP p50)", readRatio, 1.2, ratio),
        info(SUITE, "gateway read_file p50", ms(gwRead.p50)),
        info(
          SUITE,
          "read_file p50 / (raw exec of its command line + bare MCP p50)",
          ratio(gwRead.p50 / (rawRead.p50 + bareEcho.p50)),
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
        atMost(SUITE, "fan-out 50, gateway cold / parallel-ssh", gwCold / psshMs, 1.3, ratio),
        {
          suite: SUITE,
          name: "fan-out 50, ansible / gateway cold",
          value: ratio(ansibleMs / gwCold),
          target: "≥ 5.00×",
          pass: Number.isFinite(ansibleMs) ? ansibleMs / gwCold >= 5 : false,
        },
        info(SUITE, "fan-out 50, gateway warm", ms(gwWarm)),
        atMost(
          SUITE,
          `RSS with ${connections} pooled connections`,
          (rssKib ?? NaN) / 1024,
          150,
          (v) => `${v.toFixed(1)} MB`,
        ),
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
