import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parseTargets } from "../../src/config/load.ts";
import { Secret } from "../../src/config/secret.ts";
import { MAX_CONFIG_BYTES } from "../../src/config/yaml_source.ts";

const FILE = "targets.yaml";
const PIN = "SHA256:Yt3v9kq0mB6n1uQz7wRr2PcXg5sHd8LfJ4aE0oVtKiM";

/** Parses without resolving secrets. */
const parse = (text: string) => parseTargets(text, FILE, { resolveSecrets: false });

/** The ConfigError a text produces; fails the test when it parses. */
async function problemsOf(text: string): Promise<ConfigError> {
  try {
    await parse(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, found ${error}`);
    return error;
  }
  assert.fail("expected the registry to be refused");
}

/** Asserts exactly one problem at `line:column` whose message matches. */
async function assertOneProblem(
  text: string,
  where: { line: number; column: number; path?: string },
  message: RegExp,
): Promise<ConfigError> {
  const error = await problemsOf(text);
  assert.equal(error.problems.length, 1, error.message);
  const [problem] = error.problems;
  assert.deepEqual(
    { line: problem.position?.line, column: problem.position?.column },
    { line: where.line, column: where.column },
    error.message,
  );
  assert.equal(problem.position?.file, FILE);
  if (where.path !== undefined) assert.equal(problem.path, where.path);
  assert.match(problem.message, message);
  assert.ok(
    error.message.startsWith(`${FILE}:${where.line}:${where.column}: `),
    `the message starts with file:line:column: ${error.message}`,
  );
  return error;
}

/** An ssh target entry with everything required, indented for `targets:`. */
const sshEntry = (id: string, extra = "") =>
  `  - id: ${id}
    type: ssh
    capabilities: [system:read]
    connection:
      host: ${id}.example.com
      user: ops
      key: "\${KEY}"
      host_key: "${PIN}"${extra}
`;

Deno.test("parseTargets() reads one target of each type and fills in the defaults", async () => {
  const registry = await parse(`targets:
  - id: gw
    type: local
    capabilities: [system:read]
${sshEntry("web-1")}  - id: engine
    type: docker
    capabilities: [container:read]
  - id: api
    type: http
    capabilities: [http:read]
    connection:
      base_url: https://api.example.com
`);
  assert.deepEqual(registry.targets.map((t) => [t.id, t.type]), [
    ["gw", "local"],
    ["web-1", "ssh"],
    ["engine", "docker"],
    ["api", "http"],
  ]);
  const defaultConstraints = { timeout_ms: 30_000, concurrency: 4, output_cap_bytes: 1_048_576 };
  for (const target of registry.targets) {
    assert.equal(target.description, "");
    assert.deepEqual(target.tags, []);
    assert.deepEqual(target.groups, []);
    assert.deepEqual(target.constraints, defaultConstraints);
  }
  const gw = registry.get("gw");
  assert.equal(gw?.type, "local");
  if (gw?.type === "local") assert.deepEqual(gw.files, { roots: [], write_roots: [] });

  const ssh = registry.get("web-1");
  assert.equal(ssh?.type, "ssh");
  if (ssh?.type === "ssh") {
    const { key, ...rest } = ssh.connection;
    assert.ok(key instanceof Secret);
    assert.equal(key.source, "env:KEY");
    assert.equal(key.resolved, false, "--no-resolve leaves secrets unresolved");
    assert.deepEqual(rest, {
      host: "web-1.example.com",
      port: 22,
      user: "ops",
      host_key: PIN,
      keepalive_ms: 5_000,
      idle_close_ms: 300_000,
      max_channels: 8,
      connect_timeout_ms: 10_000,
    });
    assert.equal(ssh.sudo, "none");
    assert.deepEqual(ssh.files, { roots: [], write_roots: [] });
  }

  const engine = registry.get("engine");
  assert.equal(engine?.type, "docker");
  if (engine?.type === "docker") {
    assert.deepEqual(engine.connection, { socket: "/var/run/docker.sock" });
  }

  const api = registry.get("api");
  assert.equal(api?.type, "http");
  if (api?.type === "http") {
    assert.deepEqual(api.connection, {
      base_url: "https://api.example.com",
      methods: ["GET", "HEAD"],
      paths: ["/**"],
      headers: {},
      tls: {},
      redirects: "none",
      allow_addresses: [],
      response_cap_bytes: 1_048_576,
    });
  }
});

Deno.test("parseTargets() reads every optional field of every type as written", async () => {
  const registry = await parse(`version: 1
targets:
  - id: gw
    type: local
    description: the gateway
    capabilities: [system:read, file:read, audit:read]
    tags: [gateway]
    groups: [home]
    constraints: { timeout_ms: 1000, concurrency: 2, output_cap_bytes: 2048 }
    files: { roots: [/var/log, /etc] }
  - id: jump
    type: ssh
    capabilities: [system:read]
    connection:
      host: "fd00::1"
      port: 2222
      user: ops
      password: "\${PW}"
      agent: /run/agent.sock
      known_hosts: /etc/tailops/known_hosts
      keepalive_ms: 1000
      idle_close_ms: 1000
      max_channels: 1
      connect_timeout_ms: 100
    sudo: all
  - id: web
    type: ssh
    capabilities: [system:read, system:control]
    connection:
      host: 10.0.0.2
      user: ops
      key: file:/etc/tailops/key
      passphrase: "\${PASS}"
      host_key: "${PIN}"
      via: jump
    sudo: [service_control]
  - id: remote
    type: docker
    capabilities: [container:read]
    connection:
      host: tcp://10.0.0.3:2376
      tls: { ca: file:/ca.pem, cert: file:/cert.pem, key: "\${DOCKER_KEY}" }
  - id: basic
    type: http
    capabilities: [http:read, http:write]
    connection:
      base_url: http://10.0.0.4:8080/api
      methods: [GET, POST, DELETE]
      paths: ["/v1/**"]
      headers: { Accept: application/json }
      auth: { basic: { username: ops, password: "\${API_PW}" } }
      tls: { ca: file:/ca.pem }
      redirects: same_origin
      allow_addresses: ["10.0.0.0/8", "fd00::/8", "192.168.1.7"]
      response_cap_bytes: 4096
  - id: hdr
    type: http
    capabilities: [http:read]
    connection:
      base_url: https://api.example.com
      auth: { header: { name: X-Api-Key, value: "\${API_KEY}" } }
`);
  const jump = registry.get("jump");
  assert.ok(jump?.type === "ssh");
  assert.equal(jump.sudo, "all");
  assert.equal(jump.connection.port, 2222);
  assert.equal(jump.connection.known_hosts, "/etc/tailops/known_hosts");
  const web = registry.get("web");
  assert.ok(web?.type === "ssh");
  assert.deepEqual(web.sudo, ["service_control"]);
  assert.equal(web.connection.via, "jump");
  assert.equal(web.connection.passphrase?.source, "env:PASS");
  const remote = registry.get("remote");
  assert.ok(remote?.type === "docker" && "tls" in remote.connection);
  assert.equal(remote.connection.tls.ca.source, "file:/ca.pem");
  assert.equal(remote.connection.tls.key.source, "env:DOCKER_KEY");
  const basic = registry.get("basic");
  assert.ok(basic?.type === "http" && basic.connection.auth && "basic" in basic.connection.auth);
  assert.equal(basic.connection.auth.basic.username, "ops");
  assert.equal(basic.connection.redirects, "same_origin");
  assert.deepEqual(registry.select(["group:home"]).map((t) => t.id), ["gw"]);
});

Deno.test("the registry is frozen after load", async () => {
  const registry = await parse(`targets:
  - { id: gw, type: local, capabilities: [system:read] }
`);
  assert.ok(Object.isFrozen(registry));
  assert.ok(Object.isFrozen(registry.targets));
  assert.throws(() => (registry.targets as unknown[]).push({}), TypeError);
});

Deno.test("an unknown key is reported at the key itself", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: local
    capabilities: [system:read]
    colour: red
`,
    { line: 5, column: 5, path: "targets[0]" },
    /^Unknown key "colour": not part of the schema here$/,
  );
});

Deno.test("an unknown key inside a connection is reported at that key", async () => {
  await assertOneProblem(
    sshEntry("web-1", "\n      hostkey: nope").replace(/^/, "targets:\n"),
    { line: 10, column: 7, path: "targets[0].connection" },
    /Unknown key "hostkey"/,
  );
});

Deno.test("a value of the wrong type says what was expected and what was found", async () => {
  await assertOneProblem(
    sshEntry("web-1", "\n      port: twenty-two").replace(/^/, "targets:\n"),
    { line: 10, column: 13, path: "targets[0].connection.port" },
    /^Invalid "port": expected number, found string$/,
  );
});

Deno.test("a port of 70000 is refused with the range and the value found", async () => {
  await assertOneProblem(
    sshEntry("web-1", "\n      port: 70000").replace(/^/, "targets:\n"),
    { line: 10, column: 13, path: "targets[0].connection.port" },
    /^Invalid port: expected 1 to 65535, found 70000$/,
  );
});

Deno.test("a missing required key is reported as missing, at its parent", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: local
`,
    { line: 2, column: 5, path: "targets[0].capabilities" },
    /^Missing required key "capabilities"$/,
  );
});

Deno.test("a duplicate target id is reported at the second id", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: local
    capabilities: [system:read]
  - id: gw
    type: local
    capabilities: [system:read]
`,
    { line: 5, column: 9, path: "targets[1].id" },
    /^Duplicate target id "gw": already used by target 1$/,
  );
});

Deno.test("an unknown capability is reported at the list item, with the vocabulary", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: local
    capabilities: [system:read, system:fly]
`,
    { line: 4, column: 33, path: "targets[0].capabilities[1]" },
    /^Unknown capability "system:fly": expected one of system:read, .*audit:read, guest:read, .*backup:control$/,
  );
});

Deno.test("a capability the target type cannot support is refused (container:read on ssh)", async () => {
  await assertOneProblem(
    `targets:
  - id: web-1
    type: ssh
    capabilities:
      - system:read
      - container:read
    connection: { host: web-1, user: ops, key: "\${KEY}", host_key: "${PIN}" }
`,
    { line: 6, column: 9, path: "targets[0].capabilities[1]" },
    /^Capability "container:read" is not supported by ssh targets: expected one of system:read, /,
  );
});

Deno.test("system:read on a docker target and audit:read on ssh are refused too", async () => {
  const docker = await problemsOf(`targets:
  - { id: engine, type: docker, capabilities: [system:read] }
`);
  assert.match(docker.message, /"system:read" is not supported by docker targets/);
  const ssh = await problemsOf(`targets:
  - id: web
    type: ssh
    capabilities: [audit:read]
    connection: { host: web, user: ops, key: "\${KEY}", host_key: "${PIN}" }
`);
  assert.match(ssh.message, /"audit:read" is not supported by ssh targets/);
});

Deno.test("an unknown target type lists the types there are", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: telnet
    capabilities: [system:read]
`,
    { line: 3, column: 11, path: "targets[0].type" },
    /^Invalid target type: expected one of local, ssh, docker, http, proxmox$/,
  );
});

Deno.test("an ssh target without host_key or known_hosts is refused: no trust on first use", async () => {
  await assertOneProblem(
    `targets:
  - id: web
    type: ssh
    capabilities: [system:read]
    connection:
      host: web
      user: ops
      key: "\${KEY}"
`,
    { line: 6, column: 7, path: "targets[0].connection" },
    /expected host_key or known_hosts \(host keys are never trusted on first use\)/,
  );
});

Deno.test("an ssh target without any credential is refused", async () => {
  const error = await problemsOf(`targets:
  - id: web
    type: ssh
    capabilities: [system:read]
    connection: { host: web, user: ops, host_key: "${PIN}" }
`);
  assert.match(error.message, /expected at least one of key, password or agent/);
});

Deno.test("a malformed host key fingerprint is refused", async () => {
  const error = await problemsOf(
    sshEntry("web").replace(PIN, "MD5:aa:bb").replace(/^/, "targets:\n"),
  );
  assert.match(error.message, /Invalid host_key: expected an OpenSSH fingerprint/);
  assert.match(error.message, /^targets\.yaml:9:17: /);
});

Deno.test("a literal secret is refused and never repeated in the message", async () => {
  const literal = "hunter2-correct-horse";
  const error = await assertOneProblem(
    sshEntry("web").replace('"${KEY}"', literal).replace(/^/, "targets:\n"),
    { line: 8, column: 12, path: "targets[0].connection.key" },
    /^Invalid secret reference: expected "\$\{ENV_VAR\}" or "file:\/absolute\/path", found a literal value/,
  );
  assert.ok(!error.message.includes(literal));
  assert.ok(!JSON.stringify(error.problems).includes(literal));
});

Deno.test("literal secrets in http auth and docker TLS never reach the message either", async () => {
  const literal = "sk_live_51Hsecretvalue";
  const http = await problemsOf(`targets:
  - id: api
    type: http
    capabilities: [http:read]
    connection:
      base_url: https://api.example.com
      auth: { bearer: ${literal} }
`);
  assert.match(http.message, /^targets\.yaml:7:\d+: /);
  assert.ok(!http.message.includes(literal), http.message);
  assert.ok(!JSON.stringify(http.problems).includes(literal));
  const docker = await problemsOf(`targets:
  - id: engine
    type: docker
    capabilities: [container:read]
    connection:
      host: tcp://engine:2376
      tls: { ca: file:/ca.pem, cert: file:/cert.pem, key: ${literal} }
`);
  assert.ok(!docker.message.includes(literal), docker.message);
});

Deno.test("a secret reference that is neither ${VAR} nor file:/absolute is refused", async () => {
  for (const ref of ["$KEY", "${}", "${MY-KEY}", "file:relative/key", "env:KEY"]) {
    const error = await problemsOf(
      sshEntry("web").replace('"${KEY}"', `"${ref}"`).replace(
        /^/,
        "targets:\n",
      ),
    );
    assert.match(error.message, /Invalid secret reference/, ref);
    assert.ok(!error.message.includes(ref), `${ref} is not echoed`);
  }
});

Deno.test("a tab used for indentation is a YAML error at its line", async () => {
  await assertOneProblem(
    "targets:\n\t- id: gw\n",
    { line: 2, column: 1 },
    /^Invalid YAML: Tabs are not allowed as indentation/,
  );
});

Deno.test("bad indentation is a YAML error at its line", async () => {
  const error = await problemsOf(`targets:
  - id: gw
    type: local
   capabilities: [system:read]
`);
  assert.match(error.message, /^targets\.yaml:4:\d+: Invalid YAML: /);
});

Deno.test("an unclosed quote is a YAML error", async () => {
  const error = await problemsOf(`targets:
  - id: "gw
    type: local
`);
  assert.match(error.problems[0].message, /^Invalid YAML: Missing closing "quote/);
  assert.equal(error.problems[0].position?.file, FILE);
});

Deno.test("a duplicate YAML key is refused at the second key", async () => {
  await assertOneProblem(
    `targets:
  - id: gw
    type: local
    type: ssh
    capabilities: [system:read]
`,
    { line: 4, column: 5 },
    /^Invalid YAML: Map keys must be unique/,
  );
});

Deno.test("a YAML alias bomb (billion laughs) is refused quickly", async () => {
  const levels = "abcdefghi".split("");
  const lines = [`a: &a [${Array(10).fill('"lol"').join(",")}]`];
  for (let i = 1; i < levels.length; i++) {
    lines.push(`${levels[i]}: &${levels[i]} [${Array(10).fill(`*${levels[i - 1]}`).join(",")}]`);
  }
  const started = performance.now();
  const error = await problemsOf(lines.join("\n") + "\n");
  const elapsed = performance.now() - started;
  assert.match(error.message, /^targets\.yaml:1:1: Invalid YAML: .*resource exhaustion/);
  assert.ok(elapsed < 1000, `refused in ${elapsed.toFixed(0)} ms`);
});

Deno.test("an empty file asks for targets at 1:1", async () => {
  for (const text of ["", "\n", "# only a comment\n"]) {
    await assertOneProblem(text, { line: 1, column: 1 }, /^Missing required key "targets"$/);
  }
});

Deno.test("a registry with no targets is refused", async () => {
  await assertOneProblem("targets: []\n", { line: 1, column: 10 }, /expected at least one target/);
});

Deno.test("an unknown version is refused", async () => {
  const error = await problemsOf(`version: 2
targets:
  - { id: gw, type: local, capabilities: [system:read] }
`);
  assert.match(error.message, /^targets\.yaml:1:10: Invalid version: expected 1/);
});

Deno.test("a file over the size limit is refused before it is parsed", async () => {
  const text = `# ${"x".repeat(MAX_CONFIG_BYTES)}\ntargets: [`;
  const error = await problemsOf(text);
  assert.equal(error.problems.length, 1);
  assert.match(
    error.message,
    new RegExp(`^targets\\.yaml:1:1: File too large: expected at most ${MAX_CONFIG_BYTES} bytes`),
  );
});

Deno.test("via must name another ssh target", async () => {
  await assertOneProblem(
    `targets:
  - id: engine
    type: docker
    capabilities: [container:read]
${sshEntry("web", "\n      via: engine")}`,
    { line: 13, column: 12, path: "targets[1].connection.via" },
    /^Invalid via "engine": expected the id of another ssh target$/,
  );
  const self = await problemsOf(`targets:\n${sshEntry("web", "\n      via: web")}`);
  assert.match(self.message, /Invalid via "web"/);
  const unknown = await problemsOf(`targets:\n${sshEntry("web", "\n      via: nowhere")}`);
  assert.match(unknown.message, /Invalid via "nowhere"/);
});

Deno.test("ids, tags and groups must be lowercase names", async () => {
  const error = await problemsOf(`targets:
  - id: Web_1
    type: local
    capabilities: [system:read]
    tags: [ok, "Not OK"]
`);
  assert.equal(error.problems.length, 2);
  assert.match(error.problems[0].message, /^Invalid target id "Web_1": expected lowercase/);
  assert.match(error.problems[1].message, /^Invalid tag "Not OK": expected lowercase/);
});

Deno.test("file roots must be absolute, normalised paths", async () => {
  for (const root of ["var/log", "/var/../etc", "/var//log", "/var/./log"]) {
    const error = await problemsOf(`targets:
  - id: gw
    type: local
    capabilities: [file:read]
    files: { roots: ["${root}"] }
`);
    assert.match(error.message, /Invalid path: expected an absolute path/, root);
  }
});

Deno.test("http targets refuse headers the executor sets and bad address ranges", async () => {
  const error = await problemsOf(`targets:
  - id: api
    type: http
    capabilities: [http:read]
    connection:
      base_url: https://api.example.com
      headers: { Host: evil.example.com }
      allow_addresses: ["10.0.0.0/33", "example.com"]
`);
  assert.match(error.message, /targets\.yaml:7:18: Invalid header name "Host": expected a header/);
  assert.match(error.message, /Invalid allow_addresses entry "10\.0\.0\.0\/33"/);
  assert.match(error.message, /Invalid allow_addresses entry "example\.com"/);
});

Deno.test("every problem in a file is reported, in document order", async () => {
  const error = await problemsOf(`targets:
  - id: a
    type: local
    capabilities: [system:fly]
  - id: b
    type: local
    capabilities: [system:read]
    extra: 1
`);
  assert.deepEqual(error.problems.map((p) => p.position?.line), [4, 8]);
});
