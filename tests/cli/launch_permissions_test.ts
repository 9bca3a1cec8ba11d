import assert from "node:assert/strict";
import { loadTargets, parsePolicy } from "../../src/config/load.ts";
import {
  gatewayPermissions,
  permissionFlags,
  type PermissionInput,
  policyUrls,
} from "../../src/cli/launch_permissions.ts";
import { WORKER_KINDS } from "../../src/cli/gateway.ts";
import { SAFE_PATH } from "../../src/exec/local_kind.ts";
import { CATALOG, localPrograms } from "../../src/ops/catalog.ts";

const REPO = new URL("../../", import.meta.url);

const POLICY = parsePolicy(
  `
version: 1
rules:
  - id: observe
    tiers: [observe]
  - id: odd-limit
    operations: [http_request]
    params: { path: { enum: ["https://rule-values-are-not-addresses.example/"] } }
approvals:
  webhook: { url: "https://hooks.example.net:8443/tailops", secret: "\${WEBHOOK_KEY}" }
auth:
  oidc:
    - issuer: https://idp.example.org
      jwks_uri: https://keys.example.org/jwks.json
      introspection:
        endpoint: http://introspect.example.org/token
        client_id: tailops
        client_secret: file:/etc/tailops/oidc-secret
        token_prefix: "opaque_"
`,
  "policy.yaml",
);

async function exampleInput(): Promise<PermissionInput> {
  const registry = await loadTargets(new URL("targets.example.yaml", REPO).pathname, {
    resolveSecrets: false,
  });
  const local = new Set(
    registry.targets.filter((t) => t.type === "local").flatMap((t) => t.capabilities),
  );
  return {
    stateDir: "/var/lib/tailops",
    configFiles: ["/etc/tailops/targets.yaml", "/etc/tailops/policy.yaml"],
    targets: registry.targets,
    policy: POLICY,
    kinds: WORKER_KINDS,
    context: { programs: localPrograms(CATALOG, local) },
    sourceDir: "/opt/tailops/src/",
    listen: { hostname: "127.0.0.1", port: 8080 },
  };
}

Deno.test("gatewayPermissions() writes only the state directory", async () => {
  const set = gatewayPermissions(await exampleInput());
  // The docker socket and the ssh agent socket are there because their workers open them.
  assert.deepEqual(set.write, [
    "/run/tailops/ssh-agent.sock",
    "/var/lib/tailops",
    "/var/run/docker.sock",
  ]);
});

Deno.test("gatewayPermissions() reads the state, config, secret files, known_hosts, sources, roots and programs only", async () => {
  const set = gatewayPermissions(await exampleInput());
  for (
    const path of [
      "/var/lib/tailops",
      "/etc/tailops/targets.yaml",
      "/etc/tailops/policy.yaml",
      "/etc/tailops/keys/bastion_ed25519",
      "/etc/tailops/known_hosts",
      "/etc/tailops/docker-prod/ca.pem",
      "/etc/tailops/oidc-secret",
      "/opt/tailops/src/",
      "/var/log",
      "/etc/nginx",
    ]
  ) assert.ok(set.read.includes(path), path);
  assert.ok(!set.read.includes("/"), "never the whole file system");
  assert.ok(!set.read.some((p) => p.includes(".ssh")), "never a user's ~/.ssh");
  const others = set.read.filter((p) => !p.startsWith("/etc/") && !p.startsWith("/var/"));
  assert.ok(
    others.every((p) =>
      p === "/opt/tailops/src/" || p === "/proc/self/limits" || set.run.includes(p) ||
      p.startsWith("/run/")
    ),
    others.join(", "),
  );
});

Deno.test("gatewayPermissions() grants the environment variables the configuration names and nothing else", async () => {
  const set = gatewayPermissions(await exampleInput());
  assert.deepEqual(set.env, [
    "BASTION_KEY_PASSPHRASE",
    "DB1_SSH_PASSWORD",
    "GRAFANA_TOKEN",
    "HOME",
    "LOGNAME",
    "PVE_API_TOKEN_HEADER",
    "PVE_TOKEN_SECRET",
    "TAILOPS_*",
    "USER",
    "WEBHOOK_KEY",
    "WEB_SSH_KEY",
    "XDG_STATE_HOME",
  ]);
  assert.ok(!set.env.includes("PATH"));
});

Deno.test("gatewayPermissions() connects to the listener, the targets and the policy's URLs only", async () => {
  const set = gatewayPermissions(await exampleInput());
  for (
    const address of [
      "127.0.0.1:8080",
      "bastion.example.com:22",
      "db-1.example.com:2222",
      "docker-prod.example.com:2376",
      "grafana.example.com:443",
      "unix:/var/run/docker.sock",
      "unix:/run/tailops/ssh-agent.sock",
      "idp.example.org:443",
      "keys.example.org:443",
      "introspect.example.org:80",
      "hooks.example.net:8443",
    ]
  ) assert.ok(set.net.includes(address), address);
  assert.ok(!set.net.some((a) => a.includes("rule-values")), "rule values are not addresses");
});

Deno.test("gatewayPermissions() runs programs by absolute path from the fixed system PATH", async () => {
  const set = gatewayPermissions(await exampleInput());
  const dirs = SAFE_PATH.split(":");
  assert.ok(set.run.length > 0);
  for (const program of set.run) {
    assert.ok(dirs.some((d) => program.startsWith(`${d}/`)), program);
  }
});

Deno.test("gatewayPermissions() grants no network, run or socket without targets that need them", async () => {
  const input = await exampleInput();
  const set = gatewayPermissions({
    ...input,
    targets: [],
    policy: parsePolicy("version: 1\nrules: []\n", "p.yaml"),
    listen: undefined,
  });
  assert.deepEqual(set.net, []);
  assert.deepEqual(set.run, []);
  assert.deepEqual(set.write, ["/var/lib/tailops"]);
  assert.deepEqual(set.sys, ["uid"]);
});

Deno.test("policyUrls() finds URL settings by key name, skipping rules", () => {
  assert.deepEqual(policyUrls(POLICY).map((u) => u.href), [
    "https://hooks.example.net:8443/tailops",
    "https://idp.example.org/",
    "https://keys.example.org/jwks.json",
    "http://introspect.example.org/token",
  ]);
});

Deno.test("permissionFlags() denies what is empty, keeps modules local and refuses a comma in an entry", () => {
  const flags = permissionFlags({
    read: ["/a"],
    write: [],
    net: [],
    env: ["HOME"],
    run: [],
    sys: ["uid"],
  });
  assert.deepEqual(flags, [
    "--no-prompt",
    "--no-remote",
    "--cached-only",
    "--frozen",
    "--ignore-env",
    "--allow-read=/a",
    "--allow-env=HOME",
    "--allow-sys=uid",
  ]);
  assert.throws(
    () => permissionFlags({ read: ["/a,b"], write: [], net: [], env: [], run: [], sys: [] }),
    /expected no comma/,
  );
});

Deno.test("deno.json's static sets name programs by absolute path, and the deploy set covers a standard deployment but for the network", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", REPO)));
  const all = [
    ...new Set(CATALOG.flatMap((op) => op.targetTypes.includes("local") ? op.programs : [])),
  ];
  const expected = SAFE_PATH.split(":").flatMap((dir) => all.map((p) => `${dir}/${p}`)).sort();
  for (const name of ["gateway", "deploy"]) {
    assert.deepEqual([...config.permissions[name].run].sort(), expected, name);
  }
  const deploy = config.permissions.deploy;
  const input = await exampleInput();
  const standard = gatewayPermissions({
    ...input,
    // A local target reading /var/log, secrets and keys under /etc/tailops.
    targets: input.targets.filter((t) => t.type === "local").map((t) => ({
      ...t,
      files: { ...("files" in t ? t.files : {}), roots: ["/var/log"] },
    })) as typeof input.targets,
    policy: parsePolicy("version: 1\nrules: []\n", "p.yaml"),
    sourceDir: "/etc/tailops",
  });
  const covered = (path: string, list: string[]) =>
    list.some((entry) => path === entry || path.startsWith(`${entry}/`));
  for (const path of standard.read) assert.ok(covered(path, deploy.read), `read ${path}`);
  for (const path of standard.write) assert.ok(covered(path, deploy.write), `write ${path}`);
  for (const name of standard.env) assert.ok(deploy.env.includes(name), `env ${name}`);
  assert.deepEqual(deploy.sys, standard.sys);
  assert.equal(deploy.write.length, 1);
});

Deno.test("gatewayPermissions() grants the unix sockets the policy and the serve flags name, by exact path", async () => {
  const input = await exampleInput();
  const policy = {
    ...POLICY,
    // Settings other parts of the gateway may add: found by key name, not by schema.
    audit: { checkpoint_webhook: "https://evidence.example.com/cp", syslog: "/dev/log" },
    auth: { ...POLICY.auth, tailscale: { enabled: true, socket: "/run/tailscale/ts.sock" } },
  } as unknown as typeof POLICY;
  const set = gatewayPermissions({ ...input, policy, sockets: ["/var/lib/tailops/serve.sock"] });
  for (const socket of ["/dev/log", "/run/tailscale/ts.sock", "/var/lib/tailops/serve.sock"]) {
    assert.ok(set.net.includes(`unix:${socket}`), socket);
    assert.ok(set.read.includes(socket) && set.write.includes(socket), socket);
  }
  assert.ok(set.net.includes("evidence.example.com:443"));
});

Deno.test("ungranted() lists what a process started under one set lacks for another", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-ungranted-" });
  try {
    const module = new URL("../../src/cli/launch_permissions.ts", import.meta.url).href;
    await Deno.writeTextFile(
      `${dir}/probe.ts`,
      `import { ungranted } from ${JSON.stringify(module)};
console.log(JSON.stringify(ungranted({
  read: [${JSON.stringify(dir)}, "/etc/tailops/new-key"],
  write: [${JSON.stringify(dir)}],
  net: ["127.0.0.1:8080", "db-2.example.com:22"],
  env: ["TAILOPS_*", "NEW_SECRET"],
  run: [],
  sys: ["uid"],
})));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--config=${new URL("deno.json", REPO).pathname}`,
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        "--allow-net=127.0.0.1:8080",
        "--allow-env=TAILOPS_*",
        "--allow-sys=uid",
        `${dir}/probe.ts`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(out.stdout)), [
      "read:/etc/tailops/new-key",
      "net:db-2.example.com:22",
      "env:NEW_SECRET",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch grants the shared state database's address or unix socket, and refuses an unreadable reference", async () => {
  const { launchArgs } = await import("../../src/cli/launch.ts");
  const net = (args: string[]) => args.find((a) => a.startsWith("--allow-net=")) ?? "";
  const base = ["--transport", "http", "--state-dir", "/tmp/tailops-launch-test"];
  const socket = await launchArgs([
    ...base,
    "--state-url",
    "postgres://tailops@/tailops?host=/run/postgresql&port=5433",
  ]);
  assert.match(net(socket), /unix:\/run\/postgresql\/\.s\.PGSQL\.5433/);
  assert.ok(socket.some((a) => a.startsWith("--allow-read=") && a.includes("/.s.PGSQL.5433")));
  const tcp = await launchArgs([...base, "--state-url", "postgres://tailops@db.internal:6432/t"]);
  assert.match(net(tcp), /db\.internal:6432/);
  await assert.rejects(
    launchArgs([...base, "--state-url", "${SOME_UNREADABLE_VARIABLE_FOR_TEST}"]),
    /Cannot derive the shared state database's address/,
  );
});
