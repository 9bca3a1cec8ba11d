/**
 * The `tailops` command line as users run it: `deno run -P=gateway
 * --no-prompt main.ts ...`. Help and version, one clear line for bad usage,
 * `check-config` pointing at FILE:LINE:COLUMN, secrets never printed, and
 * `audit verify` on intact and tampered logs.
 *
 * @module
 */
import assert from "node:assert/strict";
import denoConfig from "../../deno.json" with { type: "json" };
import { AuditLog } from "../../src/audit/writer.ts";
import { AUDIT_HELP, CHECK_CONFIG_HELP, MAIN_HELP, SERVE_HELP } from "../../src/cli/help.ts";
import { REPO_DIR, runCli, tempDirWith } from "./_gateway.ts";

const VERSION_LINE = `tailops ${denoConfig.version}\n`;

/** A valid registry; the comments give line numbers the broken copies refer to. */
const BASE_TARGETS = [
  "version: 1", // 1
  "targets:", // 2
  "  - id: local", // 3
  "    type: local", // 4
  "    capabilities: [system:read, file:read]", // 5
  "    files:", // 6
  "      roots: [/var/log]", // 7
  "  - id: web-1", // 8
  "    type: ssh", // 9
  "    description: web", // 10
  "    capabilities: [system:read]", // 11
  "    tags: [web]", // 12
  "    connection:", // 13
  "      host: 127.0.0.1", // 14
  "      port: 2222", // 15
  "      user: ops", // 16
  "      password: ${TAILOPS_TEST_PASSWORD}", // 17
  `      host_key: SHA256:${"A".repeat(43)}`, // 18
];

const GOOD_TARGETS = BASE_TARGETS.join("\n") + "\n";

const SECRET = "hunter2-never-print-me";

/** Replaces 1-based line `n` of the base registry. */
function withLine(n: number, line: string): string {
  return BASE_TARGETS.map((l, i) => (i === n - 1 ? line : l)).join("\n") + "\n";
}

Deno.test("--help prints each command's help on stdout and exits 0", async () => {
  const cases: [string[], string][] = [
    [["--help"], MAIN_HELP],
    [["-h"], MAIN_HELP],
    [["serve", "--help"], SERVE_HELP],
    [["check-config", "-h"], CHECK_CONFIG_HELP],
    [["audit", "--help"], AUDIT_HELP],
  ];
  for (const [args, help] of cases) {
    const run = await runCli(args);
    assert.equal(run.code, 0, args.join(" "));
    assert.equal(run.stdout, `${help}\n`, args.join(" "));
    assert.deepEqual(run.ownStderr, [], args.join(" "));
  }
});

Deno.test("--version prints the deno.json version for the main command and subcommands", async () => {
  for (
    const args of [["--version"], ["-V"], ["serve", "--version"], ["check-config", "-V"], [
      "audit",
      "--version",
    ]]
  ) {
    const run = await runCli(args);
    assert.equal(run.code, 0, args.join(" "));
    assert.equal(run.stdout, VERSION_LINE, args.join(" "));
  }
});

Deno.test("bad usage exits non-zero with one clear line on stderr", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [["frobnicate"], {}, /^tailops: Unknown command "frobnicate": expected one of serve, /],
    [["serve", "--bogus"], {}, /^tailops: Unknown option '--bogus'$/],
    [["check-config", "--bogus"], {}, /^tailops: Unknown option '--bogus'$/],
    [["audit", "verify", "--bogus", "x"], {}, /^tailops: Unknown option '--bogus'$/],
    [["audit", "check"], {}, /^tailops: Unknown audit command "check": expected verify or key$/],
    [["serve", "--listen", "nope"], {}, /^tailops: Invalid --listen "nope": expected HOST:PORT/],
    [
      ["serve", "--listen", "127.0.0.1:99999"],
      {},
      /^tailops: Invalid --listen "127\.0\.0\.1:99999"/,
    ],
    [
      ["serve", "--transport", "tcp"],
      {},
      /^tailops: Invalid --transport "tcp": expected stdio or http$/,
    ],
    [
      ["serve"],
      { TAILOPS_TRANSPORT: "carrier-pigeon" },
      /^tailops: Invalid --transport "carrier-pigeon"/,
    ],
    [["serve", "--fsync", "sometimes"], {}, /^tailops: Invalid --fsync "sometimes"/],
    [["serve", "--transport"], {}, /^tailops: Option '--transport <value>' argument missing$/],
    [["serve", "extra"], {}, /^tailops: Unexpected argument "extra": serve takes only flags$/],
  ];
  for (const [args, env, message] of cases) {
    const run = await runCli(args, { env });
    const label = `${args.join(" ")} ${JSON.stringify(env)}`;
    assert.notEqual(run.code, 0, label);
    assert.equal(run.ownStderr.length, 1, `${label}: ${run.stderr}`);
    assert.match(run.ownStderr[0], message, label);
    assert.equal(run.stdout, "", label);
  }
});

const EXAMPLE = `${REPO_DIR}/targets.example.yaml`;
const exampleExists = (() => {
  try {
    return Deno.statSync(EXAMPLE).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "check-config passes on targets.example.yaml without resolving secrets",
  ignore: !exampleExists,
  async fn() {
    const run = await runCli(["check-config", "--no-resolve", "targets.example.yaml"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\nOK\n$/);
  },
});

Deno.test("check-config shows secrets by their source and never their value", async () => {
  const dir = await tempDirWith({ "targets.yaml": GOOD_TARGETS });
  try {
    const run = await runCli(["check-config", `${dir}/targets.yaml`], {
      env: { TAILOPS_TEST_PASSWORD: SECRET },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /password <secret from TAILOPS_TEST_PASSWORD>/);
    assert.match(run.stdout, /2 target\(s\)/);
    assert.ok(!run.stdout.includes(SECRET) && !run.stderr.includes(SECRET));

    const missing = await runCli(["check-config", `${dir}/targets.yaml`]);
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.ownStderr, [
      `${dir}/targets.yaml:17:17: Cannot resolve secret: environment variable TAILOPS_TEST_PASSWORD is not set (at targets[1].connection.password)`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-config points at FILE:LINE:COLUMN of each kind of mistake", async () => {
  const broken: [string, string, number, RegExp][] = [
    ["port.yaml", withLine(15, "      port: 70000"), 15, /Invalid port: expected 1 to 65535/],
    [
      "unknown_key.yaml",
      withLine(10, "    description: web\n    colour: blue"),
      11,
      /Unknown key "colour"/,
    ],
    ["duplicate.yaml", withLine(8, "  - id: local"), 8, /Duplicate target id "local"/],
    [
      "capability.yaml",
      withLine(11, "    capabilities: [system:reed]"),
      11,
      /Unknown capability "system:reed"/,
    ],
    [
      "unsupported.yaml",
      withLine(11, "    capabilities: [container:read]"),
      11,
      /Capability "container:read" is not supported by ssh targets/,
    ],
    ["indent.yaml", withLine(16, "     user: ops"), 16, /Invalid YAML/],
  ];
  const dir = await tempDirWith(Object.fromEntries(broken.map(([name, text]) => [name, text])));
  try {
    const runs = await Promise.all(
      broken.map(([name]) =>
        runCli(["check-config", `${dir}/${name}`], { env: { TAILOPS_TEST_PASSWORD: SECRET } })
      ),
    );
    broken.forEach(([name, , line, message], i) => {
      const run = runs[i];
      assert.equal(run.code, 1, `${name}: ${run.stdout}`);
      assert.ok(run.ownStderr.length >= 1, name);
      const first = run.ownStderr[0];
      assert.match(first, new RegExp(`^${dir}/${name}:${line}:\\d+: `), `${name}: ${first}`);
      assert.match(first, message, name);
      assert.equal(run.stdout, "", `${name} prints no summary`);
      assert.ok(!run.stderr.includes(SECRET), `${name} does not print the secret`);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-config points at FILE:LINE:COLUMN of a policy rule naming an unknown operation", async () => {
  const policy = [
    "rules:",
    "  - id: read",
    "    tiers: [observe]",
    "  - id: restarts",
    "    operations: [service_control, service_restrat]",
    "    params:",
    "      colour: { enum: [blue] }",
  ].join("\n");
  const dir = await tempDirWith({ "policy.yaml": policy });
  try {
    const run = await runCli(["check-config", "--policy", `${dir}/policy.yaml`]);
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.ownStderr[0], new RegExp(`^${dir}/policy.yaml:5:\\d+: .*"service_restrat"`));
    assert.ok(
      run.ownStderr.some((line) => new RegExp(`^${dir}/policy.yaml:7:\\d+: .*"colour"`).test(line)),
      run.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("positions and YAML the fast parser refuses still work though yaml loads only then", async () => {
  // The unknown operation is found when compiling the policy, after it was read
  // by the fast parser: its position is placed by yaml, loaded only for that.
  const broken = ["rules:", "  - id: read", "    tiers: [observe]", "  - id: restarts"]
    .concat("    operations: [service_restrat]").join("\n");
  // An alias sends the policy to yaml itself.
  const aliased = ["rules:", "  - id: read", "    tiers: &observe [observe]", "  - id: again"]
    .concat("    tiers: *observe").join("\n");
  const dir = await tempDirWith({ "broken.yaml": broken, "aliased.yaml": aliased });
  try {
    const at = (line: string) =>
      assert.match(line, new RegExp(`^(tailops: )?${dir}/broken.yaml:5:\\d+: .*"service_restrat"`));
    const check = await runCli(["check-config", "--policy", `${dir}/broken.yaml`]);
    assert.equal(check.code, 1, check.stdout);
    at(check.ownStderr[0]);
    const serve = await runCli([
      ...["serve", "--transport", "http", "--listen", "127.0.0.1:0"],
      ...["--state-dir", `${dir}/state`, "--policy", `${dir}/broken.yaml`],
    ]);
    assert.equal(serve.code, 1);
    assert.equal(serve.ownStderr.length, 1, serve.stderr);
    at(serve.ownStderr[0]);
    const fine = await runCli(["check-config", "--policy", `${dir}/aliased.yaml`]);
    assert.equal(fine.code, 0, fine.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TAILOPS_TARGETS mirrors --targets for check-config", async () => {
  const dir = await tempDirWith({
    "good.yaml": GOOD_TARGETS,
    "bad.yaml": withLine(15, "      port: 70000"),
  });
  try {
    const env = { TAILOPS_TEST_PASSWORD: SECRET };
    const byFlag = await runCli(["check-config", "--targets", `${dir}/good.yaml`], { env });
    const byEnv = await runCli(["check-config"], {
      env: { ...env, TAILOPS_TARGETS: `${dir}/good.yaml` },
    });
    assert.equal(byFlag.code, 0, byFlag.stderr);
    assert.equal(byEnv.code, 0, byEnv.stderr);
    assert.equal(byEnv.stdout, byFlag.stdout);
    assert.match(byEnv.stdout, /web-1 \[ssh\]/);

    const bad = await runCli(["check-config"], {
      env: { ...env, TAILOPS_TARGETS: `${dir}/bad.yaml` },
    });
    assert.equal(bad.code, 1);
    assert.match(bad.ownStderr[0], new RegExp(`^${dir}/bad\\.yaml:15:13: Invalid port`));

    // The flag wins over the environment.
    const both = await runCli(["check-config", "--targets", `${dir}/good.yaml`], {
      env: { ...env, TAILOPS_TARGETS: `${dir}/bad.yaml` },
    });
    assert.equal(both.code, 0, both.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Writes a five-record audit log with the real writer. */
async function writeLog(path: string): Promise<void> {
  const log = await AuditLog.open(path, { fsync: "never" });
  await log.append({ event: "config_loaded", detail: { targets: 1 } });
  for (const tool of ["system_status", "top_processes"]) {
    const call = crypto.randomUUID();
    const base = { identity: "token:admin", tool, target: "local", call };
    await log.append({ ...base, event: "decided", decision: "allow", rule: "observe" });
    await log.append({ ...base, event: "finished", status: "ok", exit_code: 0 });
  }
  await log.close();
}

Deno.test("audit verify says OK for an intact log and BROKEN at the tampered seq", async () => {
  const dir = await tempDirWith();
  try {
    const file = `${dir}/audit.jsonl`;
    await writeLog(file);
    const intact = await runCli(["audit", "verify", file]);
    assert.equal(intact.code, 0, intact.stderr);
    assert.equal(intact.stdout, "OK: 5 records, chain intact\n");

    const lines = (await Deno.readTextFile(file)).split("\n");
    // One byte in the middle of record 4: "top_processes" becomes "top_processez".
    const fourth = lines[3];
    const at = fourth.indexOf("top_processes") + "top_processes".length - 1;
    assert.ok(at > 20);
    const tampered = `${fourth.slice(0, at)}z${fourth.slice(at + 1)}`;
    await Deno.writeTextFile(file, lines.with(3, tampered).join("\n"));
    const edited = await runCli(["audit", "verify", file]);
    assert.equal(edited.code, 1);
    assert.match(edited.stdout, /^BROKEN at seq 4 \(line 4\): edited: /);

    await Deno.writeTextFile(file, [...lines.slice(0, 1), ...lines.slice(2)].join("\n"));
    const deleted = await runCli(["audit", "verify", file]);
    assert.equal(deleted.code, 1);
    assert.match(deleted.stdout, /^BROKEN at seq 2 \(line 2\): deleted_or_reordered: /);

    await Deno.writeTextFile(file, lines.join("\n").slice(0, -20));
    const truncated = await runCli(["audit", "verify", file]);
    assert.equal(truncated.code, 1);
    assert.match(truncated.stdout, /^BROKEN at seq 5 \(line 5\): truncated: /);

    const absent = await runCli(["audit", "verify", `${dir}/nope.jsonl`]);
    assert.equal(absent.code, 1);
    assert.equal(absent.ownStderr.length, 1);
    assert.match(absent.ownStderr[0], /^tailops: Cannot read ".*nope\.jsonl"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve with a broken targets file exits 1 with one line pointing at it", async () => {
  const dir = await tempDirWith({ "bad.yaml": withLine(15, "      port: 70000") });
  try {
    const run = await runCli([
      "serve",
      "--transport",
      "http",
      "--listen",
      "127.0.0.1:0",
      "--state-dir",
      `${dir}/state`,
      "--targets",
      `${dir}/bad.yaml`,
    ], { env: { TAILOPS_TEST_PASSWORD: SECRET } });
    assert.equal(run.code, 1);
    assert.equal(run.ownStderr.length, 1, run.stderr);
    assert.match(run.ownStderr[0], new RegExp(`^tailops: ${dir}/bad\\.yaml:15:13: Invalid port`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
