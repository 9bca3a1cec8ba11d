/**
 * Suite "gateway" (issue 2): the real gateway over Streamable HTTP (bearer
 * auth, gate, hash-chained audit with `--fsync batch`) against a bare SDK
 * server in the same run, both answering `list_directory` of the same small
 * directory (the gateway through its local worker, the bare server
 * in-process). Also spawn-to-first-answer over stdio and idle RSS.
 *
 * @module
 */
import { callOk, Client, connectHttp, StdioClientTransport } from "./_mcp_client.ts";
import { GATEWAY_RUNTIME_FLAGS, spawnGateway, spawnHelper, writeBenchPolicy } from "./_process.ts";
import { measureSavings } from "./_savings.ts";
import {
  atMost,
  type BenchOptions,
  cpuMs,
  info,
  type Latencies,
  mb,
  median,
  memoryKib,
  type Metric,
  ms,
  rate,
  ratio,
  REPO_ROOT,
  type SuiteReport,
  table,
  timeCalls,
  timeInterleaved,
  withTimeout,
  zero,
} from "./_util.ts";

import { CATALOG } from "../../src/ops/catalog.ts";
import { toolDefinition } from "../../src/mcp/tool_definitions.ts";
import { measureToolList, TOOL_LIST_BUDGET } from "../../src/mcp/tool_budget.ts";

const SUITE = "gateway";

/**
 * The whole catalogue's `tools/list` size (issue 10's budget), measured in
 * process: every built-in tool, as an admin sees it with every target type
 * registered. Printed by every bench run, whichever suites it runs.
 *
 * @returns The line to print and the metrics for the summary.
 */
export function toolListMetrics(): { line: string; metrics: Metric[] } {
  const tools = CATALOG.map(toolDefinition);
  const size = measureToolList(tools);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const line =
    `tools/list: ${tools.length} tools, ${size.bytes} bytes (${kb(size.bytes)}; budget ${
      kb(TOOL_LIST_BUDGET.totalBytes)
    }), ~${size.tokens} tokens (bytes ÷ 4); ` +
    `largest ${size.largest.name} ${size.largest.bytes} bytes (budget ${TOOL_LIST_BUDGET.toolBytes})`;
  const metrics = [
    atMost(
      SUITE,
      `tools/list of all ${tools.length} tools`,
      size.bytes,
      TOOL_LIST_BUDGET.totalBytes,
      kb,
    ),
    info(SUITE, "tools/list estimated tokens (bytes ÷ 4)", `~${size.tokens}`),
    atMost(
      SUITE,
      `largest tool in tools/list (${size.largest.name})`,
      size.largest.bytes,
      TOOL_LIST_BUDGET.toolBytes,
      kb,
    ),
  ];
  return { line, metrics };
}

/**
 * Writes a 5-file directory and a registry with one local target, `bench`, rooted there.
 *
 * @param dir A temp dir.
 * @returns The targets file and the directory.
 */
export async function makeFixture(
  dir: string,
): Promise<{ targets: string; files: string; writes: string }> {
  const files = `${dir}/files`;
  const writes = `${dir}/writes`;
  await Deno.mkdir(files);
  await Deno.mkdir(writes);
  for (let i = 0; i < 5; i++) await Deno.writeTextFile(`${files}/file-${i}.txt`, `line ${i}\n`);
  const targets = `${dir}/targets.yaml`;
  await Deno.writeTextFile(
    targets,
    [
      "version: 1",
      "targets:",
      "  - id: bench",
      "    type: local",
      "    capabilities: [system:read, file:read, file:write]",
      `    files: { roots: [${JSON.stringify(files)}], write_roots: [${JSON.stringify(writes)}] }`,
      "    constraints: { concurrency: 16 }",
      "",
    ].join("\n"),
  );
  return { targets, files, writes };
}

/** Environment for the stdio gateway: what the SDK passes by default, plus Deno's cache. */
function stdioEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["HOME", "PATH", "USER", "LOGNAME", "DENO_DIR", "XDG_CACHE_HOME"]) {
    const value = Deno.env.get(name);
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * Spawn → initialize → tools/list over stdio, in ms. Then stops the process:
 * by closing stdin and waiting (as MCP clients do) when `eof` is set, else by
 * SIGTERM.
 */
async function stdioStartup(args: string[], eof = false) {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args,
    cwd: REPO_ROOT,
    env: stdioEnv(),
    stderr: "ignore",
  });
  const client = new Client({ name: "tailops-bench", version: "0.1.0" });
  const t0 = performance.now();
  let closeMs = NaN;
  try {
    await withTimeout(client.connect(transport), 20_000, "initialize over stdio");
    const initialized = performance.now() - t0;
    const { tools } = await withTimeout(client.listTools(), 20_000, "tools/list over stdio");
    const listed = performance.now() - t0;
    if (tools.length === 0) throw new Error("tools/list over stdio returned no tools");
    const pid = transport.pid;
    // CPU time to here, all threads: what the start costs, whatever else runs.
    const cpu = pid === null ? NaN : cpuMs(pid) ?? NaN;
    if (eof && pid !== null) {
      // The SDK client ends stdin, waits up to 2 s for an exit, then sends SIGTERM.
      const c0 = performance.now();
      await client.close();
      closeMs = performance.now() - c0;
    }
    return { initialized, listed, cpu, closeMs };
  } finally {
    const pid = transport.pid;
    if (pid !== null) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch {
        // Already gone.
      }
    }
    await client.close().catch(() => {});
  }
}

/** GNU find, as the local worker runs it (null when absent). */
function findProgram(): string | null {
  for (const path of ["/usr/bin/find", "/bin/find"]) {
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Try the next.
    }
  }
  return null;
}

function row(name: string, bare: string, gateway: string, r: string): string[] {
  return [name, bare, gateway, r];
}

/**
 * The HTTP layer alone: the gateway's listener (accept loop, node:http and
 * the fetch bridge) against `Deno.serve`, both answering the same POST with
 * one small event (scripts/bench/listener_server.ts), 16 requests in flight
 * from this process's `fetch`. Rounds alternate; CPU per request is read
 * from `/proc` (robust to the machine's load), calls/s from the clock.
 *
 * @param requests Requests per server and round (4 rounds).
 * @returns The CPU ms per request and calls/s of each.
 */
async function measureHttpLayer(requests: number) {
  const servers = [
    await spawnHelper("listener_server.ts"),
    await spawnHelper("listener_server.ts", ["--deno-serve"]),
  ];
  try {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: {} });
    const calls = servers.map((server) => async () => {
      const response = await fetch(`http://127.0.0.1:${server.port}/mcp`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json", accept: "text/event-stream" },
      });
      if (!(await response.text()).startsWith("event: message")) {
        throw new Error(`Unexpected answer from port ${server.port}`);
      }
    });
    for (const call of calls) await timeCalls(200, 16, call);
    const cpu = [0, 0];
    const perSecond = [0, 0];
    for (let round = 0; round < 4; round++) {
      for (const i of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const before = cpuMs(servers[i].pid) ?? NaN;
        const run = await timeCalls(requests, 16, calls[i], 60_000);
        cpu[i] += ((cpuMs(servers[i].pid) ?? NaN) - before) / run.count / 4;
        perSecond[i] += run.callsPerSecond / 4;
      }
    }
    return {
      listener: { cpu: cpu[0], perSecond: perSecond[0] },
      denoServe: { cpu: cpu[1], perSecond: perSecond[1] },
    };
  } finally {
    for (const server of servers) await server.stop();
  }
}

/**
 * Runs the suite.
 *
 * @param options `quick` for fewer iterations.
 * @returns Tables and metrics.
 */
export async function runGateway(options: BenchOptions): Promise<SuiteReport> {
  const sequential = options.quick ? 100 : 300;
  const concurrent = options.quick ? 160 : 480;
  const dir = await Deno.makeTempDir({ prefix: "tailops-bench-gw-" });
  const stops: (() => Promise<void>)[] = [];
  try {
    const loadStart = Deno.loadavg();
    const { targets, files, writes } = await makeFixture(dir);
    const bare = await spawnHelper("bare_server.ts");
    stops.push(bare.stop);
    const gateway = await spawnGateway({
      targets,
      stateDir: `${dir}/state`,
      policy: await writeBenchPolicy(`${dir}/policy.yaml`, { writes: true }),
    });
    stops.push(gateway.stop);
    await new Promise((r) => setTimeout(r, 500));
    const idleKib = memoryKib(gateway.pid, "VmRSS");
    const bareIdleKib = memoryKib(bare.pid, "VmRSS");

    const bareClient = await connectHttp(`http://127.0.0.1:${bare.port}/mcp`);
    stops.unshift(bareClient.close);
    const gwClient = await connectHttp(gateway.url, gateway.token);
    stops.unshift(gwClient.close);
    const callBare = async () => {
      await callOk(bareClient.client, "list_directory", { path: files });
    };
    const callGateway = async () => {
      await callOk(gwClient.client, "list_directory", { target: "bench", path: files });
    };
    // Warm-up: JIT, the gateway's worker, connection pools.
    await timeCalls(30, 1, callBare);
    const warm = await timeCalls(30, 1, callGateway);
    if (warm.failures > 0) throw new Error(`Gateway warm-up failed: ${warm.firstError}`);
    const afterWarmKib = memoryKib(gateway.pid, "VmRSS");

    const [bareSeq, gwSeq] = await timeInterleaved(sequential, [callBare, callGateway], 90_000);
    // A mutating call: the gateway's file_write (decided record synced before it runs) against
    // the bare server writing the same file the same way (temp file, fsync, rename).
    let written = 0;
    const callBareWrite = async () => {
      await callOk(bareClient.client, "write_file", {
        path: `${writes}/bare-${written++ % 50}`,
        content: "key=value\n",
      });
    };
    const callGatewayWrite = async () => {
      await callOk(gwClient.client, "file_write", {
        target: "bench",
        path: `${writes}/gw-${written++ % 50}`,
        content: `key=${written}\n`,
      });
    };
    await timeCalls(10, 1, callBareWrite);
    const warmWrites = await timeCalls(10, 1, callGatewayWrite);
    if (warmWrites.failures > 0) {
      throw new Error(`Gateway file_write warm-up failed: ${warmWrites.firstError}`);
    }
    const writeRounds = options.quick ? 60 : 200;
    const [bareWrite, gwWrite] = await timeInterleaved(
      writeRounds,
      [callBareWrite, callGatewayWrite],
      90_000,
    );
    await Deno.mkdir(`${dir}/savings`);
    const savings = await measureSavings(`${dir}/savings`, files, findProgram());
    // Ablation, same run: the gateway without auth and without audit fsync.
    const lite = await spawnGateway({
      targets,
      stateDir: `${dir}/state-lite`,
      extraArgs: ["--no-auth", "--fsync", "never"],
    });
    stops.push(lite.stop);
    const liteClient = await connectHttp(lite.url);
    stops.unshift(liteClient.close);
    const callLite = async () => {
      await callOk(liteClient.client, "list_directory", { target: "bench", path: files });
    };
    await timeCalls(30, 1, callLite);
    const [bareSeq2, liteSeq] = await timeInterleaved(sequential, [callBare, callLite], 60_000);
    // The gateway's own path without an executor or a process: list_targets (auth, gate,
    // one audit record) against the bare server's echo.
    const callBareEcho = async () => {
      await callOk(bareClient.client, "echo", { text: "bench" });
    };
    const callListTargets = async () => {
      await callOk(gwClient.client, "list_targets", {});
    };
    const [bareEcho, gwList] = await timeInterleaved(
      sequential,
      [callBareEcho, callListTargets],
      60_000,
    );
    const bareConc = await timeCalls(concurrent, 16, callBare, 60_000);
    const gwConc = await timeCalls(concurrent, 16, callGateway, 60_000);
    // One client address, 64 in flight, under the default transport limits (issue 14).
    const flood = options.quick ? 1000 : 5000;
    const bareConc64 = await timeCalls(flood, 64, callBare, 120_000);
    const gwConc64 = await timeCalls(flood, 64, callGateway, 120_000);
    // Issue 14: RSS after 10,000 calls (the full run tops the calls above up to 10,000).
    let made = 30 + 20 + gwSeq.count + gwList.count + gwWrite.count + gwConc.count + gwConc64.count;
    if (!options.quick && made < 10_000) {
      made += (await timeCalls(10_000 - made, 16, callGateway, 180_000)).count;
    }
    // V8 gives the heap back by itself once calls stop (its memory reducer,
    // ~10-25 s here): wait for RSS to come back, at most 45 s.
    const settled = performance.now();
    const burstKib = memoryKib(gateway.pid, "VmRSS");
    let afterCallsKib = burstKib;
    while (
      performance.now() - settled < 45_000 &&
      (afterCallsKib ?? Infinity) > 1.1 * (afterWarmKib ?? 0)
    ) {
      await new Promise((r) => setTimeout(r, 1000));
      afterCallsKib = memoryKib(gateway.pid, "VmRSS");
    }
    const settledS = (performance.now() - settled) / 1000;
    const bareHwm = memoryKib(bare.pid, "VmHWM");
    const gwHwm = memoryKib(gateway.pid, "VmHWM");

    const gwStdio = [
      ...["run", "-P=gateway", "--no-prompt", ...GATEWAY_RUNTIME_FLAGS, "main.ts", "serve"],
      ...["--transport", "stdio"],
      ...["--targets", targets, "--state-dir", `${dir}/stdio-state`],
    ];
    const bareStdio = ["run", "-A", "--no-prompt", "scripts/bench/bare_server.ts", "--stdio"];
    const startups: { initialized: number; listed: number; cpu: number }[] = [];
    const bareStartups: number[] = [];
    const bareCpu: number[] = [];
    await stdioStartup(gwStdio); // warm the module caches
    await stdioStartup(bareStdio);
    for (let i = 0; i < 5; i++) {
      startups.push(await stdioStartup(gwStdio));
      const bareRun = await stdioStartup(bareStdio);
      bareStartups.push(bareRun.listed);
      bareCpu.push(bareRun.cpu);
    }
    const { closeMs } = await stdioStartup(gwStdio, true);
    const exitsOnEof = closeMs < 1500;
    const httpLayer = await measureHttpLayer(options.quick ? 500 : 2000);
    const startInit = median(startups.map((s) => s.initialized));
    const startList = median(startups.map((s) => s.listed));
    const startCpu = median(startups.map((s) => s.cpu));
    const startCpuRatio = startCpu / median(bareCpu);

    const seqRatio = gwSeq.p50 / bareSeq.p50;
    const writeFloor = bareWrite.p50 + savings.fdatasync;
    const writeRatio = gwWrite.p50 / writeFloor;
    const conc16Ratio = gwConc.callsPerSecond / bareConc.callsPerSecond;
    const bareStart = median(bareStartups);
    const startRatio = startList / bareStart;
    const idleRatio = (idleKib ?? NaN) / (bareIdleKib ?? NaN);
    const afterCallsRatio = (afterCallsKib ?? NaN) / (afterWarmKib ?? NaN);
    const loadEnd = Deno.loadavg();
    const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(" ");
    const lat = (l: Latencies, pick: "p50" | "p99") => ms(l[pick]);
    const results = table(["Measure", "bare SDK server", "gateway", "gateway / bare"], [
      row(
        `sequential p50 (${gwSeq.count} calls)`,
        lat(bareSeq, "p50"),
        lat(gwSeq, "p50"),
        ratio(seqRatio),
      ),
      row("sequential p99", lat(bareSeq, "p99"), lat(gwSeq, "p99"), ratio(gwSeq.p99 / bareSeq.p99)),
      row(
        "sequential calls/s",
        rate(bareSeq.callsPerSecond),
        rate(gwSeq.callsPerSecond),
        ratio(gwSeq.callsPerSecond / bareSeq.callsPerSecond),
      ),
      row(
        `16 in flight p50 (${gwConc.count} calls)`,
        lat(bareConc, "p50"),
        lat(gwConc, "p50"),
        ratio(gwConc.p50 / bareConc.p50),
      ),
      row(
        "16 in flight p99",
        lat(bareConc, "p99"),
        lat(gwConc, "p99"),
        ratio(gwConc.p99 / bareConc.p99),
      ),
      row(
        "16 in flight calls/s",
        rate(bareConc.callsPerSecond),
        rate(gwConc.callsPerSecond),
        ratio(gwConc.callsPerSecond / bareConc.callsPerSecond),
      ),
      row(
        "failed calls",
        String(bareSeq.failures + bareConc.failures),
        String(gwSeq.failures + gwConc.failures),
        "",
      ),
      row(
        "ablation: sequential p50 with --no-auth --fsync never (separate interleaved run)",
        lat(bareSeq2, "p50"),
        lat(liteSeq, "p50"),
        ratio(liteSeq.p50 / bareSeq2.p50),
      ),
      row(
        `observe call without executor p50: echo / list_targets (${gwList.count} calls)`,
        lat(bareEcho, "p50"),
        lat(gwList, "p50"),
        ratio(gwList.p50 / bareEcho.p50),
      ),
      row(
        `mutating call p50: write_file / file_write (${gwWrite.count} calls, interleaved)`,
        lat(bareWrite, "p50"),
        lat(gwWrite, "p50"),
        ratio(gwWrite.p50 / bareWrite.p50),
      ),
      row(
        "mutating call p50 against bare + one fdatasync (measured alone below)",
        ms(writeFloor),
        lat(gwWrite, "p50"),
        ratio(writeRatio),
      ),
      row("peak RSS (VmHWM)", mb(bareHwm), mb(gwHwm), ratio((gwHwm ?? NaN) / (bareHwm ?? NaN))),
      row(
        "HTTP layer alone, CPU per request (16 in flight; bare: Deno.serve, gateway: its listener)",
        ms(httpLayer.denoServe.cpu),
        ms(httpLayer.listener.cpu),
        ratio(httpLayer.listener.cpu / httpLayer.denoServe.cpu),
      ),
      row(
        "HTTP layer alone, requests/s at 16 in flight",
        rate(httpLayer.denoServe.perSecond),
        rate(httpLayer.listener.perSecond),
        ratio(httpLayer.listener.perSecond / httpLayer.denoServe.perSecond),
      ),
    ]);
    const s = savings;
    const per = (a: number, b: number) => ratio(a / b);
    const costs = table(["Per-call step (in the bench process, p50)", "measured", "ratio"], [
      ["one fdatasync (420-byte write + fdatasync)", ms(s.fdatasync), ""],
      [
        "audit append of an observe call's decided record (written; the sync is not awaited)",
        ms(s.appendObserve),
        `${per(s.appendObserve, s.fdatasync)} of one fdatasync`,
      ],
      [
        "audit append of a mutating call's decided record (synced)",
        ms(s.appendMutating),
        `${per(s.appendMutating, s.fdatasync)} of one fdatasync`,
      ],
      [
        "420-byte audit write: async (blocking pool) / writeSync",
        `${ms(s.writeAsync)} / ${ms(s.writeSync)}`,
        per(s.writeAsync, s.writeSync),
      ],
      [
        "5-entry directory listing: async / sync",
        `${ms(s.readDirAsync)} / ${ms(s.readDirSync)}`,
        per(s.readDirAsync, s.readDirSync),
      ],
      [
        "spawn of find listing 5 entries (what a local listing cost before the file helper)",
        ms(s.spawnFind),
        `${per(s.spawnFind, bareSeq.p50)} of a bare call`,
      ],
      [
        "listing of 5 entries by the local worker's long-lived file helper (one request)",
        ms(s.helperList),
        `${per(s.helperList, bareSeq.p50)} of a bare call`,
      ],
    ]);
    const startup = table(["Measure", "value", "target"], [
      ["stdio: spawn → initialize answered (median of 5)", ms(startInit), ""],
      ["stdio: spawn → initialize + tools/list answered (median of 5)", ms(startList), ""],
      [
        "bare SDK server over stdio: spawn → initialize + tools/list (median of 5)",
        ms(bareStart),
        "",
      ],
      ["stdio start, gateway / bare", ratio(startRatio), "≤ 1.30×"],
      [
        "stdio: CPU time (all threads) spawn → tools/list answered, gateway; bare (median of 5)",
        `${ms(startCpu)}; ${ms(median(bareCpu))}`,
        "",
      ],
      [
        "stdio start CPU time, gateway / bare (steadier than elapsed time under load)",
        ratio(startCpuRatio),
        "",
      ],
      [
        "stdio: exits when the client closes stdin",
        exitsOnEof
          ? `yes (${ms(closeMs)})`
          : `no: stopped by the client's SIGTERM after ${ms(closeMs)}`,
        "yes",
      ],
      ["idle RSS after start (HTTP, before the first call)", mb(idleKib), ""],
      ["bare SDK server idle RSS after start", mb(bareIdleKib), ""],
      ["idle RSS, gateway / bare", ratio(idleRatio), "≤ 1.15×"],
      ["RSS after 30 warm-up calls (local worker running)", mb(afterWarmKib), ""],
      [
        `RSS right after ${made} calls; ${settledS.toFixed(0)} s later / after warm-up`,
        `${mb(burstKib)}; ${mb(afterCallsKib)} / ${mb(afterWarmKib)} = ${ratio(afterCallsRatio)}`,
        "≤ 1.10×",
      ],
    ]);
    const errors = [gwSeq, gwConc].map((l) => l.firstError).filter(Boolean);
    const note =
      "Both servers answer `list_directory` of the same 5-file directory: the gateway through " +
      "bearer auth, Host/Origin check, the gate, two audit records (fsync batch) and its " +
      "sandboxed local worker; the bare server (McpServer + " +
      "WebStandardStreamableHTTPServerTransport under Deno.serve, stateful sessions, own process) " +
      "reads the directory in-process. One SDK client session each over Streamable HTTP; " +
      "sequential calls alternate between the two servers. The target allows 16 concurrent calls. " +
      "Mutating: the gateway's `file_write` (its decided record synced before the write) against " +
      "the bare server's `write_file` (temp file, fsync, rename, as file_write does). " +
      `Load average (1, 5, 15 min) at the suite's start: ${load(loadStart)}; at its end: ${
        load(loadEnd)
      } (2 CPUs).` +
      (errors.length > 0 ? `\n\nFirst gateway failure: ${errors[0]}` : "");
    return {
      title: "Gateway vs bare SDK server (Streamable HTTP)",
      blocks: [results, costs, startup, note],
      metrics: [
        info(
          SUITE,
          "load average at the suite's start / end",
          `${load(loadStart)} / ${load(loadEnd)}`,
        ),
        atMost(
          SUITE,
          "per-call latency p50, observe (list_directory), gateway / bare",
          seqRatio,
          1.3,
          ratio,
        ),
        atMost(
          SUITE,
          "per-call latency p50, mutating (file_write), gateway / (bare write_file + fdatasync)",
          writeRatio,
          1.3,
          ratio,
        ),
        {
          suite: SUITE,
          name: "calls/s at 16 in flight, gateway / bare",
          value: ratio(conc16Ratio),
          target: "≥ 0.80×",
          pass: conc16Ratio >= 0.8,
        },
        info(
          SUITE,
          "decided record of an observe call / of a mutating call",
          `${ms(s.appendObserve)} / ${ms(s.appendMutating)}`,
        ),
        info(
          SUITE,
          "per-call p50 without an executor (list_targets / bare echo)",
          ratio(gwList.p50 / bareEcho.p50),
        ),
        info(
          SUITE,
          "HTTP layer alone, CPU per request: gateway listener / Deno.serve",
          `${ratio(httpLayer.listener.cpu / httpLayer.denoServe.cpu)} (${
            ms(httpLayer.listener.cpu)
          } / ${ms(httpLayer.denoServe.cpu)})`,
        ),
        info(SUITE, "gateway sequential p50", ms(gwSeq.p50)),
        info(SUITE, "gateway 16-way calls/s", rate(gwConc.callsPerSecond)),
        info(
          SUITE,
          "per-call p50 without auth and fsync, gateway / bare",
          ratio(liteSeq.p50 / bareSeq2.p50),
        ),
        zero(SUITE, "gateway failed calls", gwSeq.failures + gwConc.failures),
        zero(
          SUITE,
          `refused, failed or not made of ${flood} calls, 64 in flight, one address, default transport limits`,
          gwConc64.failures + (flood - gwConc64.count),
        ),
        {
          suite: SUITE,
          name: "calls/s at 64 in flight, gateway / bare",
          value: `${ratio(gwConc64.callsPerSecond / bareConc64.callsPerSecond)} (${
            rate(gwConc64.callsPerSecond)
          } / ${rate(bareConc64.callsPerSecond)})`,
          target: "≥ 0.80×",
          pass: gwConc64.callsPerSecond / bareConc64.callsPerSecond >= 0.8,
        },
        atMost(
          SUITE,
          "stdio spawn → initialize + tools/list, gateway / bare",
          startRatio,
          1.3,
          ratio,
        ),
        info(SUITE, "stdio start CPU time, gateway / bare", ratio(startCpuRatio)),
        atMost(SUITE, "idle RSS after start, gateway / bare", idleRatio, 1.15, ratio),
        atMost(
          SUITE,
          `RSS ${settledS.toFixed(0)} s after ${made} calls / after warm-up`,
          afterCallsRatio,
          1.1,
          ratio,
        ),
      ],
    };
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
