/**
 * The gateway's own permission set, probed inside the real gateway process:
 * the test starts `serve` with exactly the arguments `tailops launch`
 * computes (plus `--inspect` on loopback), then evaluates probes in the
 * running gateway's own isolate over the DevTools protocol — the same
 * permissions, the same process that serves the calls. What a compromised
 * dependency or a bug in the gateway could try is tried: read /etc/shadow,
 * a user's ~/.ssh, /proc/self/environ; write outside the state directory;
 * read unrelated environment variables; connect elsewhere; run a shell or a
 * program from a user directory first in PATH; load code from the network.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  childEnv,
  connectHttp,
  gatewayArgs,
  killAndWait,
  REPO_DIR,
  type RunningGateway,
  tempDirWith,
} from "./_gateway.ts";

const SECRET_PROBE = "unrelated-secret-3c1f9e";
const API_TOKEN = "configured-token-8d2a41";

/** A loopback HTTP server that counts every request (a registry, a module host). */
function countingServer() {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      seen.push(request.url);
      return new Response("export const pwned = true;", {
        headers: { "content-type": "application/javascript" },
      });
    },
  );
  return { seen, port: server.addr.port, stop: () => server.shutdown() };
}

/** Where this Deno keeps its module cache. */
async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** A DevTools protocol session on one process's inspector. */
async function inspector(url: string) {
  const socket = new WebSocket(url);
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let nextId = 0;
  const send = (method: string, params: unknown) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const id = ++nextId;
      const onMessage = (event: MessageEvent) => {
        const data = JSON.parse(event.data);
        if (data.id !== id) return;
        socket.removeEventListener("message", onMessage);
        resolve(data);
      };
      socket.addEventListener("message", onMessage);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Runtime.enable", {});
  return {
    /** Evaluates an expression (a promise is awaited) and returns its JSON value. */
    async probe(expression: string): Promise<unknown> {
      let answer: { result?: { result?: { value?: unknown } } } = {};
      // An answer without a value is the inspector's, not the probe's (seen
      // under heavy load): ask once more, then show the whole answer.
      for (let attempt = 0; attempt < 2; attempt++) {
        answer = await send("Runtime.evaluate", {
          expression:
            `(async () => { try { return await (${expression}); } catch (e) { return "threw " + e.name + ": " + e.message; } })()`,
          awaitPromise: true,
          returnByValue: true,
        }) as typeof answer;
        if (answer.result?.result && "value" in answer.result.result) {
          return answer.result.result.value;
        }
      }
      return `no value from the inspector: ${JSON.stringify(answer)}`;
    },
    close: () => socket.close(),
  };
}

interface Probed extends AsyncDisposable {
  gateway: Pick<RunningGateway, "url" | "token">;
  probe(expression: string): Promise<unknown>;
  home: string;
  stateDir: string;
  workDir: string;
  stderr(): string;
  fakeBinRan(): Promise<boolean>;
  registry: ReturnType<typeof countingServer>;
}

/**
 * Starts the real gateway the way `tailops launch` does, with its inspector
 * on a loopback port; a fake HOME with an SSH key, a PATH whose first
 * directory holds a fake `uname`, SECRET_PROBE and a configured API token
 * in its environment, and npm/JSR registries pointed at a counting server.
 */
async function probedGateway(): Promise<Probed> {
  const registry = countingServer();
  const workDir = await tempDirWith();
  const home = `${workDir}/home`;
  const stateDir = `${workDir}/state`;
  await Deno.mkdir(`${home}/.ssh`, { recursive: true });
  await Deno.writeTextFile(`${home}/.ssh/id_ed25519`, "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  // Packages of the @probe scope come from the counting server (other packages from the cache).
  await Deno.writeTextFile(
    `${home}/.npmrc`,
    `@probe:registry=http://127.0.0.1:${registry.port}/\n`,
  );
  await Deno.mkdir(`${workDir}/roots/logs`, { recursive: true });
  await Deno.writeTextFile(`${workDir}/roots/logs/app.log`, "hello from the root\n");
  await Deno.mkdir(`${workDir}/bin`);
  for (const name of ["uname", "cat", "df"]) {
    await Deno.writeTextFile(
      `${workDir}/bin/${name}`,
      `#!/bin/sh\ntouch ${workDir}/fake-bin-ran\necho fake\n`,
    );
    await Deno.chmod(`${workDir}/bin/${name}`, 0o755);
  }
  await Deno.writeTextFile(
    `${workDir}/targets.yaml`,
    [
      "version: 1",
      "targets:",
      "  - id: local",
      "    type: local",
      "    capabilities: [system:read, file:read]",
      `    files: { roots: [${workDir}/roots/logs] }`,
      "  - id: api",
      "    type: http",
      "    capabilities: [http:read]",
      "    connection:",
      `      base_url: http://127.0.0.1:${registry.port}`,
      '      auth: { bearer: "${PROBE_API_TOKEN}" }',
      "      allow_addresses: [127.0.0.1/32]",
    ].join("\n"),
  );
  const env = childEnv({
    // The module cache stays where it is: only HOME moves to the fake one.
    DENO_DIR: await denoDir(),
    HOME: home,
    PATH: `${workDir}/bin:${Deno.env.get("PATH") ?? "/usr/bin:/bin"}`,
    SECRET_PROBE,
    PROBE_API_TOKEN: API_TOKEN,
    JSR_URL: `http://127.0.0.1:${registry.port}/`,
  });
  const args = await gatewayArgs([
    "serve",
    "--transport",
    "http",
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    stateDir,
    "--targets",
    `${workDir}/targets.yaml`,
  ], env);
  assert.equal(args[0], "run");
  assert.ok(!args.some((a) => a.startsWith("-P")), "serve runs under the derived set");
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--inspect=127.0.0.1:0", ...args.slice(1)],
    cwd: REPO_DIR,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      if (/ws:\/\/\S+/.test(stderr) && /"Listening on/.test(stderr)) onReady();
    }
  })().catch(() => {});
  const timer = setTimeout(() => killAndWait(child), 30_000);
  await Promise.race([
    ready,
    child.status.then(() => {
      throw new Error(`The gateway exited before listening:\n${stderr}`);
    }),
  ]);
  clearTimeout(timer);
  const port = Number(/"port":(\d+)/.exec(stderr)?.[1]);
  const session = await inspector(/ws:\/\/\S+/.exec(stderr)![0]);
  const token = (await Deno.readTextFile(`${stateDir}/admin.token`)).trim();
  return {
    gateway: { url: new URL(`http://127.0.0.1:${port}/mcp`), token },
    probe: session.probe,
    home,
    stateDir,
    workDir,
    registry,
    stderr: () => stderr,
    fakeBinRan: () => Deno.stat(`${workDir}/fake-bin-ran`).then(() => true, () => false),
    async [Symbol.asyncDispose]() {
      session.close();
      await killAndWait(child);
      await reading;
      await registry.stop();
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    },
  };
}

const DENIED = /^threw NotCapable: Requires (read|write|net|run|env) access/;

Deno.test("the running gateway's own permissions refuse what its configuration does not name", async (t) => {
  await using g = await probedGateway();

  await t.step("it serves its configured targets under that set", async () => {
    const client = await connectHttp(g.gateway as RunningGateway);
    try {
      const status = await client.callTool({
        name: "system_status",
        arguments: { target: "local" },
      });
      const results = (status.structuredContent as { results: { status: string }[] }).results;
      assert.equal(results[0].status, "ok", JSON.stringify(status));
      const read = await client.callTool({
        name: "read_file",
        arguments: { target: "local", path: `${g.workDir}/roots/logs/app.log` },
      });
      assert.match(JSON.stringify(read.structuredContent), /hello from the root/);
    } finally {
      await client.close();
    }
    assert.equal(await g.fakeBinRan(), false, "programs come from the fixed system PATH");
  });

  await t.step(
    "it cannot read /etc/shadow, a user's ~/.ssh, /etc/passwd or /proc/self/environ",
    async () => {
      for (
        const path of [
          "/etc/shadow",
          `${g.home}/.ssh/id_ed25519`,
          "/etc/passwd",
          "/proc/self/environ",
          "/root",
        ]
      ) {
        assert.match(
          String(await g.probe(`Deno.readTextFile(${JSON.stringify(path)})`)),
          DENIED,
          path,
        );
      }
      assert.match(
        String(await g.probe(`Deno.readDir("/")[Symbol.asyncIterator]().next()`)),
        DENIED,
      );
    },
  );

  await t.step("it can write its state directory and nowhere else", async () => {
    const inside = `${g.stateDir}/probe.txt`;
    assert.equal(
      await g.probe(`Deno.writeTextFile(${JSON.stringify(inside)}, "x").then(() => "ok")`),
      "ok",
    );
    for (
      const path of [
        `${g.workDir}/outside.txt`,
        "/tmp/tailops-probe-outside.txt",
        `${g.home}/.ssh/authorized_keys`,
      ]
    ) {
      assert.match(
        String(await g.probe(`Deno.writeTextFile(${JSON.stringify(path)}, "x")`)),
        DENIED,
        path,
      );
    }
  });

  await t.step("it cannot link its way out of the state directory", async () => {
    const state = JSON.stringify(g.stateDir);
    // Deno checks paths, not what they point to, so a link would be a way out: none can be made.
    const probes = [
      `Deno.symlink("/etc/shadow", ${state} + "/soft")`,
      `Deno.link("/etc/shadow", ${state} + "/hard")`,
      `Deno.rename(${state} + "/probe.txt", ${JSON.stringify(`${g.workDir}/moved.txt`)})`,
      `Deno.copyFile("/etc/shadow", ${state} + "/copy")`,
    ];
    for (const probe of probes) {
      assert.match(String(await g.probe(probe)), /^threw NotCapable: /, probe);
    }
  });

  await t.step("it reads only the variables it is configured to read", async () => {
    assert.equal(await g.probe(`Deno.env.get("SECRET_PROBE") ?? "unset"`), "unset");
    assert.equal(await g.probe(`Deno.env.get("PATH") ?? "unset"`), "unset");
    assert.equal(await g.probe(`Deno.env.get("PROBE_API_TOKEN")`), API_TOKEN);
    assert.equal(
      await g.probe(
        `(await Deno.permissions.query({ name: "env", variable: "SECRET_PROBE" })).state`,
      ),
      "denied",
    );
    const all = String(await g.probe(`JSON.stringify(Deno.env.toObject())`));
    assert.ok(!all.includes(SECRET_PROBE), "toObject() does not reveal it either");
  });

  await t.step("it connects only to its listener's and targets' addresses", async () => {
    assert.match(
      String(await g.probe(`Deno.connect({ hostname: "127.0.0.1", port: 22 })`)),
      DENIED,
    );
    assert.match(String(await g.probe(`fetch("http://127.0.0.1:2375/")`)), DENIED);
    assert.match(
      String(await g.probe(`Deno.connect({ transport: "unix", path: "/var/run/docker.sock" })`)),
      DENIED,
    );
  });

  await t.step("it runs no shell, and no program from the caller's PATH", async () => {
    for (const program of ["/bin/sh", "sh", `${g.workDir}/bin/uname`, "uname"]) {
      assert.match(
        String(await g.probe(`new Deno.Command(${JSON.stringify(program)}).output()`)),
        DENIED,
      );
    }
    assert.equal(await g.fakeBinRan(), false);
  });

  await t.step(
    "it loads no code from the network: http, npm and jsr imports fail without a request",
    async () => {
      const port = g.registry.port;
      for (
        const spec of [
          `http://127.0.0.1:${port}/x.js`,
          `https://127.0.0.1:${port}/y.js`,
          "npm:@probe/evil@1.0.0",
          "jsr:@std/path@1",
        ]
      ) {
        const answer = String(
          await g.probe(`import(${JSON.stringify(spec)}).then(() => "LOADED")`),
        );
        assert.match(answer, /^threw /, `${spec}: ${answer}`);
      }
      assert.deepEqual(g.registry.seen, [], "no request reached the registry or module host");
    },
  );
});

Deno.test("the network-import probe would notice a fetch: without the launcher's flags the same npm and jsr imports reach the counting server", async () => {
  const registry = countingServer();
  try {
    const dir = await tempDirWith({
      "probe.ts":
        `for (const s of ["npm:@probe/evil@1.0.0", "jsr:@std/path@1"]) await import(s).catch(() => {});`,
    });
    await Deno.mkdir(`${dir}/home`);
    await Deno.writeTextFile(
      `${dir}/home/.npmrc`,
      `@probe:registry=http://127.0.0.1:${registry.port}/\n`,
    );
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "--no-prompt", "--no-config", `${dir}/probe.ts`],
        cwd: dir,
        clearEnv: true,
        env: childEnv({
          HOME: `${dir}/home`,
          JSR_URL: `http://127.0.0.1:${registry.port}/`,
          DENO_DIR: `${dir}/deno-dir`,
        }),
        stdout: "null",
        stderr: "null",
      }).output();
      assert.ok(out.code === 0 || out.code === 1);
      assert.ok(registry.seen.some((u) => u.includes("@probe")), registry.seen.join(", "));
      assert.ok(registry.seen.some((u) => u.includes("@std/path")), registry.seen.join(", "));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    await registry.stop();
  }
});

Deno.test("a stdio gateway runs with no network at all and the same file and environment walls", async () => {
  const dir = await tempDirWith();
  const stateDir = `${dir}/state`;
  const env = childEnv({ SECRET_PROBE });
  const args = await gatewayArgs(["serve", "--transport", "stdio", "--state-dir", stateDir], env);
  assert.ok(!args.some((a) => a.startsWith("--allow-net")), args.join(" "));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--inspect=127.0.0.1:0", ...args.slice(1)],
    cwd: REPO_DIR,
    clearEnv: true,
    env,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      if (/ws:\/\/\S+/.test(stderr) && /Serving MCP over stdio/.test(stderr)) onReady();
    }
  })().catch(() => {});
  const guard = setTimeout(() => killAndWait(child), 30_000);
  try {
    await Promise.race([
      ready,
      child.status.then(() => {
        throw new Error(`The gateway exited before serving:\n${stderr}`);
      }),
    ]);
    const session = await inspector(/ws:\/\/\S+/.exec(stderr)![0]);
    try {
      for (
        const probe of [
          `Deno.listen({ hostname: "127.0.0.1", port: 0 })`,
          `Deno.connect({ hostname: "127.0.0.1", port: 22 })`,
          `Deno.readTextFile("/etc/shadow")`,
          `Deno.writeTextFile(${JSON.stringify(`${dir}/outside.txt`)}, "x")`,
          `new Deno.Command("/bin/sh").output()`,
        ]
      ) assert.match(String(await session.probe(probe)), DENIED, probe);
      assert.equal(await session.probe(`Deno.env.get("SECRET_PROBE") ?? "unset"`), "unset");
    } finally {
      session.close();
    }
  } finally {
    clearTimeout(guard);
    await child.stdin.close().catch(() => {});
    await killAndWait(child);
    await reading;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
