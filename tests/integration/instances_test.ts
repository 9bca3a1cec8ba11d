/**
 * Several gateways of one user on one state directory, through the real CLI:
 * two stdio instances (an MCP client that spawns its server twice, or two
 * Claude Code sessions) and an HTTP gateway run at once, each call audited in
 * the chain of the gateway that ran it; `audit verify DIR` checks them all;
 * `token mint` mints for the running gateway; a real conflict is one line
 * naming the process in the way.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  childEnv,
  connectHttp,
  GATEWAY_RUN,
  gatewayLines,
  readAudit,
  REPO_DIR,
  runCli,
  type RunningGateway,
  startGateway,
  startStdioGateway,
  tempDirWith,
} from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";
import { MAX_AUDIT_CHAINS, openAuditChain } from "../../src/audit/chains.ts";
import { writeInstance } from "../../src/cli/instances.ts";
import { ROLES_YAML, TARGETS_YAML } from "./_auth_gateway.ts";

/** The shipped observe-only rules plus roles, so gateway tokens have something to be. */
const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe-everything",
  "    effect: allow",
  "    tiers: [observe]",
  '    targets: ["*"]',
  "    params:",
  "      lines: { max: 1000 }",
  "identities:",
  "  roles:",
  "    viewer: { scopes: [system:read] }",
  "    operator: { scopes: [system:read, system:control] }",
].join("\n");

/** The chains a state directory holds, by file name. */
async function chainFiles(stateDir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(stateDir)) {
    if (/^audit(\.\d+)?\.jsonl$/.test(entry.name)) names.push(entry.name);
  }
  return names.sort();
}

Deno.test({
  name:
    "two stdio gateways and an HTTP gateway of one user share a state directory, each call in its own verifiable chain",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDirWith();
    const stateDir = `${dir}/state`;
    try {
      await using http = await startGateway({ stateDir, policy: POLICY });
      // An MCP client that spawns its stdio server twice gets two working servers.
      await using first = await startStdioGateway({ stateDir });
      await using second = await startStdioGateway({ stateDir });
      const client = await connectHttp(http);
      try {
        for (const c of [client, first.client, second.client]) {
          const result = await call(c, "system_status", { target: "local" });
          assert.equal(result.isError, false, result.text);
        }
      } finally {
        await client.close();
      }
      assert.equal((await Array.fromAsync(Deno.readDir(`${stateDir}/instances`))).length, 3);
      await first.stop();
      await second.stop();
      await http.stop();

      assert.deepEqual(await chainFiles(stateDir), [
        "audit.2.jsonl",
        "audit.3.jsonl",
        "audit.jsonl",
      ]);
      // Each chain holds its own gateway's call, decided and finished.
      const identities = new Set<string>();
      for (const name of await chainFiles(stateDir)) {
        const records = await readAudit(`${stateDir}/${name}`);
        const decided = records.filter((r) => r.event === "decided" && r.tool === "system_status");
        assert.equal(decided.length, 1, `${name}: ${JSON.stringify(records.map((r) => r.event))}`);
        identities.add(String(decided[0].identity));
        assert.ok(records.some((r) => r.event === "finished"), name);
      }
      assert.equal(identities.size, 2, "one HTTP admin and one local user");
      // Stopped gateways leave no instance records behind.
      assert.equal((await Array.fromAsync(Deno.readDir(`${stateDir}/instances`))).length, 0);

      const verify = await runCli(["audit", "verify", stateDir]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
      for (const name of ["audit.jsonl", "audit.2.jsonl", "audit.3.jsonl"]) {
        assert.match(
          verify.stdout,
          new RegExp(`^${name.replaceAll(".", "\\.")}: OK: \\d+ records`, "m"),
        );
      }
      assert.match(verify.stdout, /^3 chains in .*: all intact$/m);
      // One chain alone still verifies as a file.
      const one = await runCli(["audit", "verify", `${stateDir}/audit.2.jsonl`]);
      assert.equal(one.code, 0, one.stdout);
      assert.match(one.stdout, /^OK: \d+ records, chain intact$/m);

      // Checkpoints shipped off the host (the webhook body is the record) are
      // sorted to the chains they signed and checked there.
      const shippedLines: string[] = [];
      for (const name of await chainFiles(stateDir)) {
        const text = await Deno.readTextFile(`${stateDir}/${name}`);
        shippedLines.push(...text.split("\n").filter((l) => l.includes('"event":"checkpoint"')));
      }
      assert.ok(shippedLines.length >= 1, "the HTTP gateway signed its chain at its stop");
      await Deno.writeTextFile(`${dir}/shipped.jsonl`, `${shippedLines.join("\n")}\n`);
      const withShipped = await runCli([
        "audit",
        "verify",
        stateDir,
        "--shipped",
        `${dir}/shipped.jsonl`,
      ]);
      assert.equal(withShipped.code, 0, withShipped.stdout + withShipped.stderr);
      const matched = [
        ...withShipped.stdout.matchAll(/Shipped checkpoints matched: (\d+) of \1$/gm),
      ];
      assert.equal(
        matched.reduce((n, m) => n + Number(m[1]), 0),
        shippedLines.length,
        withShipped.stdout,
      );
      // A chain cut before a shipped checkpoint: no chain holds the head it signed.
      const chainOne = (await Deno.readTextFile(`${stateDir}/audit.jsonl`)).split("\n");
      const cut = chainOne.findLastIndex((l) => l.includes('"event":"checkpoint"'));
      await Deno.writeTextFile(
        `${stateDir}/audit.jsonl`,
        `${chainOne.slice(0, cut - 1).join("\n")}\n`,
      );
      const afterCut = await runCli([
        "audit",
        "verify",
        stateDir,
        "--shipped",
        `${dir}/shipped.jsonl`,
      ]);
      assert.equal(afterCut.code, 1, afterCut.stdout);
      assert.match(
        afterCut.stdout,
        /^BROKEN: the shipped checkpoint for seq \d+ .* signs a head no chain in .* holds/m,
      );

      // An edit in any chain makes the whole directory fail, naming that chain.
      const path = `${stateDir}/audit.3.jsonl`;
      const lines = (await Deno.readTextFile(path)).split("\n");
      lines[1] = lines[1].replace('"event":"', '"event":"x');
      await Deno.writeTextFile(path, lines.join("\n"));
      const broken = await runCli(["audit", "verify", stateDir]);
      assert.equal(broken.code, 1, broken.stdout);
      assert.match(broken.stdout, /^audit\.3\.jsonl: BROKEN at seq 2/m);
      assert.match(broken.stdout, /^audit\.jsonl: OK/m);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "token mint mints for the running gateway: its roles are checked and its audience makes the token work there",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway = await startGateway({ policy: POLICY });
    const mint = (...extra: string[]) =>
      runCli(["token", "mint", "--state-dir", gateway.stateDir, "--sub", "claude", ...extra]);

    const refused = await mint("--role", "admin", "--ttl", "8h");
    assert.equal(refused.code, 2, refused.stderr);
    const line = refused.ownStderr.join("\n");
    assert.match(
      line,
      /^tailops: Unknown role "admin" in .*policy\.yaml \(the policy of the gateway PID \d+ on http:\/\/127\.0\.0\.1:\d+\/mcp\): expected one of viewer, operator$/,
    );

    const minted = await mint("--role", "viewer", "--ttl", "8h");
    assert.equal(minted.code, 0, minted.stderr);
    assert.match(minted.stderr, new RegExp(`audience ${gateway.url.href.replaceAll(".", "\\.")}`));
    const client = await connectHttp(gateway, minted.stdout.trim());
    try {
      const result = await call(client, "system_status", { target: "local" });
      assert.equal(result.isError, false, result.text);
    } finally {
      await client.close();
    }

    // Another audience than the running gateway's is not guessed: it is minted as asked, with no role check.
    const elsewhere = await mint(
      "--role",
      "viewer",
      "--ttl",
      "8h",
      "--resource",
      "https://gw.example/mcp",
    );
    assert.equal(elsewhere.code, 0, elsewhere.stderr);
    assert.match(
      elsewhere.stderr,
      /Note: no HTTP gateway for https:\/\/gw\.example\/mcp is running/,
    );
  },
});

/** Runs `serve` to its end and checks it failed with exactly one line naming the problem. */
async function failsWithOneLine(args: string[], expected: RegExp): Promise<void> {
  const run = await runCli(["serve", ...args], { timeoutMs: 60_000 });
  assert.notEqual(run.code, 0, run.stderr);
  const own = run.ownStderr.filter((line) => !line.startsWith("{"));
  assert.equal(own.length, 1, run.stderr);
  assert.match(own[0], /^tailops: /);
  assert.match(own[0], expected);
  assert.doesNotMatch(run.stderr, /^\s+at /m, "no stack trace");
}

Deno.test({
  name: "every start-up failure ends the gateway with one tailops: line and no stack trace",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const dir = await tempDirWith({
      "policy.yaml": "version: 1\nrules:\n  - id: x\n    effect: maybe\n",
    });
    try {
      await t.step("a port another program holds", async () => {
        const holder = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        try {
          const port = (holder.addr as Deno.NetAddr).port;
          await failsWithOneLine(
            ["--transport", "http", "--listen", `127.0.0.1:${port}`, "--state-dir", `${dir}/a`],
            new RegExp(
              `Cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use by another program .*--listen 127\\.0\\.0\\.1:8080$`,
            ),
          );
        } finally {
          holder.close();
        }
      });

      await t.step("a port a gateway on the same state directory holds names its PID", async () => {
        await using running = await startGateway({ stateDir: `${dir}/b` });
        await failsWithOneLine(
          [
            "--transport",
            "http",
            "--listen",
            `127.0.0.1:${running.port}`,
            "--state-dir",
            `${dir}/b`,
          ],
          new RegExp(
            `in use by the tailops gateway PID ${running.pid} \\(http on ${
              running.url.href.replaceAll(".", "\\.")
            }\\) on this state directory: stop it or choose another port`,
          ),
        );
      });

      await t.step(
        "a second gateway with Tailscale identity on the same state directory names the one serving the socket",
        async () => {
          const policy = "version: 1\nrules: []\nauth:\n  tailscale: { enabled: true }\n";
          await Deno.writeTextFile(`${dir}/tailscale.yaml`, policy);
          await using running = await startGateway({ stateDir: `${dir}/ts`, policy });
          await failsWithOneLine(
            [
              "--transport",
              "http",
              "--listen",
              "127.0.0.1:0",
              "--state-dir",
              `${dir}/ts`,
              "--policy",
              `${dir}/tailscale.yaml`,
            ],
            new RegExp(
              `Cannot listen for tailscale serve on ".*/ts/tailscale/serve\.sock": the gateway PID ${running.pid} .* serves it: stop it, give this gateway another --state-dir`,
            ),
          );
          // The first gateway keeps its socket.
          await Deno.lstat(`${dir}/ts/tailscale/serve.sock`);
        },
      );

      await t.step("a state directory the gateway's permission set does not grant", async () => {
        const child = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-q",
            "-P=launch",
            "--no-prompt",
            "main.ts",
            "serve",
            "--state-dir",
            `${dir}/g`,
          ],
          cwd: REPO_DIR,
          clearEnv: true,
          env: childEnv(),
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        const stderr = new TextDecoder().decode(child.stderr);
        assert.equal(child.code, 1, stderr);
        assert.deepEqual(gatewayLines(stderr).filter((l) => !l.startsWith("{")), [
          `tailops: Cannot use state directory "${dir}/g": the gateway's Deno permission set does not grant it: choose another with --state-dir (or TAILOPS_STATE_DIR) or fix its owner and mode`,
        ]);
      });

      await t.step("every audit chain held names the holders and the fix", async () => {
        // This test process plays 32 running gateways; one of them recorded itself.
        const held = [];
        for (let i = 0; i < MAX_AUDIT_CHAINS; i++) held.push(await openAuditChain(`${dir}/full`));
        try {
          await writeInstance(`${dir}/full`, {
            pid: Deno.pid,
            chain: 1,
            transport: "stdio",
            started: new Date().toISOString(),
            policy_file: "policy/default.yaml",
            roles: [],
          });
          await failsWithOneLine(
            ["--state-dir", `${dir}/full`],
            new RegExp(
              `Cannot open an audit log in ".*/full": expected a free chain, found all 32 held by running gateways: PID ${Deno.pid} \\(stdio\\): stop one of them or give this gateway another --state-dir$`,
            ),
          );
        } finally {
          for (const chain of held) await chain.log.close();
        }
      });

      await t.step("an address this host does not have", async () => {
        await failsWithOneLine(
          ["--transport", "http", "--listen", "192.0.2.1:18080", "--state-dir", `${dir}/c`],
          /Cannot listen on 192\.0\.2\.1:18080: 192\.0\.2\.1 is not an address of this host/,
        );
      });

      await t.step("a state directory that is a file", async () => {
        await Deno.writeTextFile(`${dir}/file`, "");
        await failsWithOneLine(
          ["--state-dir", `${dir}/file`],
          /Cannot use state directory ".*\/file": a file of another kind is in the way: choose another with --state-dir/,
        );
      });

      await t.step("an invalid policy", async () => {
        await failsWithOneLine(
          ["--state-dir", `${dir}/d`, "--policy", `${dir}/policy.yaml`],
          /policy\.yaml:4:\d+: /,
        );
      });

      await t.step("an audit key readable by others, or not a key", async () => {
        await Deno.mkdir(`${dir}/e/keys`, { recursive: true });
        await Deno.writeTextFile(`${dir}/e/keys/audit.jwk.json`, "{}", { mode: 0o644 });
        await Deno.chmod(`${dir}/e/keys/audit.jwk.json`, 0o644);
        await failsWithOneLine(
          ["--state-dir", `${dir}/e`],
          /Cannot start the gateway: .*audit\.jwk\.json.*expected mode 0600, found 0644/,
        );
        await Deno.chmod(`${dir}/e/keys/audit.jwk.json`, 0o600);
        await failsWithOneLine(
          ["--state-dir", `${dir}/e`],
          /Cannot start the gateway: .*audit\.jwk\.json.*expected an Ed25519 JWK document/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** Polls a URL until its status is `status`; bounded in count, with generous time. */
async function waitForStatus(url: string, status: number): Promise<Response> {
  for (let i = 0; i < 200; i++) {
    const response = await fetch(url);
    if (response.status === status) return response;
    await response.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} never answered ${status}`);
}

Deno.test({
  name:
    "an HTTP gateway says where it is and how to connect, serves /readyz and process metrics, and logs its stop",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway: RunningGateway = await startGateway();
    // The Ready line follows the "Listening on" line startGateway waits for.
    for (let i = 0; i < 200 && !gateway.stderr().includes('"Ready: MCP at'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const ready = JSON.parse(
      gateway.stderr().split("\n").find((l) => l.includes('"Ready: MCP at')) ?? "null",
    );
    assert.ok(ready, gateway.stderr());
    assert.equal(ready.properties.url, gateway.url.href);
    assert.equal(ready.properties.token_file, `${gateway.stateDir}/admin.token`);
    assert.equal(
      ready.properties.client_command,
      `claude mcp add --transport http tailops ${gateway.url.href} --header "Authorization: Bearer $(cat '${gateway.stateDir}/admin.token')"`,
    );

    const readyz = await fetch(`http://127.0.0.1:${gateway.port}/readyz`);
    assert.equal(readyz.status, 200);
    assert.deepEqual(await readyz.json(), { status: "ready" });

    const metrics = await fetch(`http://127.0.0.1:${gateway.port}/metrics`, {
      headers: { authorization: `Bearer ${gateway.token}` },
    });
    const text = await metrics.text();
    assert.match(
      text,
      /^tailops_build_info\{version="[^"]+",deno="[^"]+",v8="[^"]+",typescript="[^"]+"\} 1$/m,
    );
    assert.match(text, /^process_resident_memory_bytes \d+$/m);
    assert.match(text, /^process_cpu_seconds_total [\d.]+$/m);
    assert.match(text, /^process_start_time_seconds [\d.]+$/m);

    // A Host that is not the gateway's: the refusal names the flags that fix it.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
    await conn.write(
      new TextEncoder().encode(
        "GET /mcp HTTP/1.1\r\nHost: gw.lan:8080\r\nConnection: close\r\n\r\n",
      ),
    );
    const answer = new TextDecoder().decode(
      await new Response(conn.readable).arrayBuffer(),
    );
    assert.match(answer, /^HTTP\/1\.1 403/);
    assert.match(
      answer,
      /Host \\"gw\.lan:8080\\" is not this gateway's: start it with --public-url URL \(the address clients use\) or --allowed-host gw\.lan:8080/,
    );

    const status = await gateway.stop();
    assert.equal(status.code, 0);
    assert.match(gateway.stderr(), /"message":"Stopped"/);
  },
});

Deno.test({
  name: "/readyz answers 503 while the audit log is failing, saying why",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway = await startGateway();
    const url = `http://127.0.0.1:${gateway.port}/readyz`;
    assert.equal((await waitForStatus(url, 200)).status, 200);
    // The audit log removed under the running gateway: calls are refused, and /readyz says so.
    await Deno.remove(gateway.auditFile);
    const failing = await waitForStatus(url, 503);
    const body = await failing.json();
    assert.equal(body.status, "not_ready");
    assert.match(body.reason, /^audit: the audit log cannot be written, so calls are refused/);
    // Liveness is not readiness: /healthz still answers.
    const health = await fetch(`http://127.0.0.1:${gateway.port}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  },
});

Deno.test({
  name:
    "an approval used through two gateways on one state directory at once runs its call exactly once",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await tempDirWith();
    const stateDir = `${dir}/state`;
    const policy = [
      "version: 1",
      "rules:",
      "  - id: observe",
      "    tiers: [observe]",
      "  - id: control-approval",
      "    effect: approve",
      "    tiers: [control]",
      "identities:",
      ROLES_YAML,
      "  bindings:",
      "    - { token: alice, roles: [operator] }",
    ].join("\n");
    try {
      await using a = await startGateway({ stateDir, policy, targets: TARGETS_YAML });
      await using b = await startGateway({ stateDir, policy, targets: TARGETS_YAML });
      const tokenFor = async (gateway: RunningGateway) => {
        const minted = await runCli([
          "token",
          "mint",
          "--state-dir",
          stateDir,
          "--sub",
          "alice",
          "--role",
          "operator",
          "--ttl",
          "1h",
          "--resource",
          gateway.url.href,
        ]);
        assert.equal(minted.code, 0, minted.stderr);
        return minted.stdout.trim();
      };
      const clients = [
        await connectHttp(a, await tokenFor(a)),
        await connectHttp(b, await tokenFor(b)),
      ];
      try {
        const restart = { target: "local", unit: "nginx.service", action: "restart" };
        const requested = await clients[0].callTool({
          name: "service_control",
          arguments: restart,
        });
        const id = (requested.structuredContent as { approval?: { id: string } }).approval?.id;
        assert.ok(id, JSON.stringify(requested.content));
        const approved = await runCli([
          "approvals",
          "approve",
          id,
          "--as",
          "bob",
          "--state-dir",
          stateDir,
        ]);
        assert.equal(approved.code, 0, approved.stderr);
        // Both gateways, each in its own process, race to use it.
        const outcomes = await Promise.all(
          clients.map(async (client) => {
            const result = await call(client, "service_control", { ...restart, approval_id: id });
            return result.results[0];
          }),
        );
        const codes = outcomes.map((o) => o.error?.code).sort();
        // One ran (and failed as a host without systemd answers), the other was refused.
        assert.deepEqual(codes, ["approval_already_used", "unsupported"], JSON.stringify(outcomes));
      } finally {
        for (const client of clients) await client.close();
      }
      await a.stop();
      await b.stop();
      let ran = 0;
      for (const name of await chainFiles(stateDir)) {
        ran += (await readAudit(`${stateDir}/${name}`)).filter((r) =>
          r.event === "decided" && r.tool === "service_control" &&
          r.detail?.approval_id !== undefined
        ).length;
      }
      assert.equal(ran, 1, "one decided record for the approved call across both chains");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "on a terminal, the gateway also prints its URL, token file and client command as plain lines",
  sanitizeResources: false,
  sanitizeOps: false,
  ignore: (await new Deno.Command("sh", { args: ["-c", "command -v script"], stdout: "null" })
    .output()).code !== 0,
  async fn() {
    const dir = await tempDirWith();
    const stateDir = `${dir}/state`;
    // util-linux `script` runs the gateway on a pseudo-terminal.
    const command = [Deno.execPath(), ...GATEWAY_RUN, "serve", "--transport", "http"]
      .concat(["--listen", "127.0.0.1:0", "--state-dir", stateDir])
      .map((arg) => `'${arg}'`).join(" ");
    const child = new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      cwd: REPO_DIR,
      clearEnv: true,
      env: childEnv(),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let output = "";
    try {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        output += chunk;
        if (/tailops: connect with: [^\r\n]*\r?\n/.test(output)) break;
      }
      const lines = output.split(/\r?\n/).filter((line) => line.startsWith("tailops: "));
      const url = /^tailops: serving MCP at (http:\/\/127\.0\.0\.1:\d+\/mcp)$/.exec(lines[0])?.[1];
      assert.ok(url, output);
      assert.equal(lines.length, 3, output);
      assert.equal(lines[0], `tailops: serving MCP at ${url}`);
      // The shipped default policy defines roles, so a narrower token is suggested.
      assert.ok(lines[1].startsWith(`tailops: admin token in ${stateDir}/admin.token`), lines[1]);
      assert.equal(
        lines[2],
        `tailops: connect with: claude mcp add --transport http tailops ${url} --header "Authorization: Bearer $(cat '${stateDir}/admin.token')"`,
      );
    } finally {
      // Stopped by its PID, as it recorded itself.
      const record = JSON.parse(await Deno.readTextFile(`${stateDir}/instances/1.json`));
      Deno.kill(record.pid, "SIGTERM");
      await child.stdin.close().catch(() => {});
      await child.stdout.cancel().catch(() => {});
      await child.status;
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
