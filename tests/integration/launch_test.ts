/**
 * `deno task start` and `deno task stdio` as users run them: the launcher
 * (`main.ts launch serve ...` under deno.json's `launch` set) derives the
 * gateway's permission set and runs it as a child; signals reach the child,
 * stdio passes through, a user directory first in PATH breaks nothing.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  childEnv,
  Client,
  connectHttp,
  readAudit,
  REPO_DIR,
  type RunningGateway,
  StdioClientTransport,
  tempDirWith,
} from "./_gateway.ts";

/** A task's command from deno.json, as argv after `deno`. */
async function task(name: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${REPO_DIR}/deno.json`));
  const argv = String(config.tasks[name]).split(" ");
  assert.equal(argv[0], "deno");
  return argv.slice(1);
}

/** A directory of fake `uname`, `cat`, `df` and `ps` that leave a mark when run. */
async function fakeBin(dir: string): Promise<string> {
  await Deno.mkdir(`${dir}/bin`);
  for (const name of ["uname", "cat", "df", "ps"]) {
    await Deno.writeTextFile(`${dir}/bin/${name}`, `#!/bin/sh\ntouch ${dir}/fake-ran\n`);
    await Deno.chmod(`${dir}/bin/${name}`, 0o755);
  }
  return `${dir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`;
}

Deno.test("deno task start's command serves over HTTP under the derived set and stops cleanly on SIGTERM", async () => {
  const dir = await tempDirWith();
  const stateDir = `${dir}/state`;
  const args = (await task("start")).map((a) => a === "127.0.0.1:8080" ? "127.0.0.1:0" : a);
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args, "--state-dir", stateDir],
    cwd: REPO_DIR,
    clearEnv: true,
    env: childEnv({ PATH: await fakeBin(dir) }),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let onPort!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (onPort = resolve));
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      const port = /"Listening on[^\n]*"port":(\d+)/.exec(stderr)?.[1];
      if (port) onPort(Number(port));
    }
  })();
  const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const port = await Promise.race([
      listening,
      child.status.then(() => {
        throw new Error(`The launcher exited before listening:\n${stderr}`);
      }),
    ]);
    const token = (await Deno.readTextFile(`${stateDir}/admin.token`)).trim();
    const client = await connectHttp(
      { url: new URL(`http://127.0.0.1:${port}/mcp`), token } as RunningGateway,
    );
    const result = await client.callTool({ name: "system_status", arguments: {} });
    await client.close();
    const results = (result.structuredContent as { results: { status: string }[] }).results;
    assert.equal(results[0].status, "ok", JSON.stringify(result));
    assert.ok(!stderr.includes("Can't escalate"), stderr);
    await Deno.stat(`${dir}/fake-ran`).then(
      () => assert.fail("a program from the user's PATH ran"),
      () => {},
    );
    child.kill("SIGTERM");
    const status = await child.status;
    assert.equal(status.code, 0, stderr);
    const audit = await readAudit(`${stateDir}/audit.jsonl`);
    // A signed checkpoint may follow the `stopped` record.
    const last = audit.filter((record) => record.event !== "checkpoint").at(-1);
    assert.equal(last?.event, "stopped", "the gateway itself got the signal");
    await reading;
    // Quiet: no Deno banner or warning, only the gateway's JSON log lines, ending with its stop.
    const lines = stderr.split("\n").filter((line) => line !== "");
    for (const line of lines) assert.ok(line.startsWith("{"), `not a JSON log line: ${line}`);
    assert.equal(JSON.parse(lines.at(-1)!).message, "Stopped");
  } finally {
    clearTimeout(guard);
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("deno task stdio's command passes stdio through the launcher to the gateway", async () => {
  const dir = await tempDirWith();
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: [...await task("stdio"), "--state-dir", `${dir}/state`],
    cwd: REPO_DIR,
    env: childEnv({ PATH: await fakeBin(dir) }),
    stderr: "pipe",
  });
  const client = new Client({ name: "tailops-launch-test", version: "0.0.0" });
  try {
    await client.connect(transport);
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === "system_status"));
    const result = await client.callTool({ name: "system_status", arguments: {} });
    const results = (result.structuredContent as { results: { status: string }[] }).results;
    assert.equal(results[0].status, "ok", JSON.stringify(result));
  } finally {
    await client.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("launch --print shows the exact deno command: no permission set, only named grants", async () => {
  const dir = await tempDirWith({
    "targets.yaml":
      "version: 1\ntargets:\n  - { id: gw, type: local, capabilities: [file:read], files: { roots: [/srv] } }\n",
  });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...(await task("start")).slice(0, -6),
        "launch",
        "--print",
        "serve",
        "--targets",
        `${dir}/targets.yaml`,
        "--state-dir",
        `${dir}/state`,
      ],
      cwd: REPO_DIR,
      clearEnv: true,
      env: childEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const printed = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(printed, /^deno run --no-prompt --no-remote --cached-only --frozen --ignore-env /);
    assert.match(printed, new RegExp(`--allow-write=${dir}/state `));
    assert.doesNotMatch(printed, /-P=|--allow-all|-A |--allow-(read|write|net|env|run)(?!=)/);
    assert.doesNotMatch(printed, /--allow-net=/, "file reads only: no network");
    // File reads open by descriptor and are checked and listed by the perl file helper
    // (race-free confinement); disk_usage runs du.
    const run = printed.match(/--allow-run=(\S+)/)?.[1].split(",") ?? [];
    assert.deepEqual(
      [...new Set(run.map((path) => path.split("/").at(-1)))].sort(),
      ["du", "perl"],
      printed,
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("launch refuses a broken configuration with one line and exit code 1", async () => {
  const dir = await tempDirWith({ "targets.yaml": "version: 1\ntargets: [{ id: x }]\n" });
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        ...(await task("start")).slice(0, -6),
        "launch",
        "serve",
        "--targets",
        `${dir}/targets.yaml`,
        "--state-dir",
        `${dir}/state`,
      ],
      cwd: REPO_DIR,
      clearEnv: true,
      env: childEnv(),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 1, stderr);
    assert.match(stderr, /^tailops: .*targets\.yaml:2:/m);
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
