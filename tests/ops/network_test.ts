import assert from "node:assert/strict";
import { listeningSockets, parseSs, splitAddress } from "../../src/ops/network.ts";
import { asExec, cmd, exec, has, localTarget, runPlan } from "./_host_helpers.ts";

const SS = ["ss", "-tulnp"];

// iproute2 6.1 (Debian 12) with a header; lines 2-3 captured here, the rest from a web host.
const OUTPUT = `Netid State  Recv-Q Send-Q      Local Address:Port  Peer Address:PortProcess
udp   UNCONN 0      0                   [::1]:18766         [::]:*    users:(("python3",pid=6162,fd=3))
tcp   LISTEN 0      128               0.0.0.0:2024       0.0.0.0:*
udp   UNCONN 0      0           127.0.0.53%lo:53         0.0.0.0:*    users:(("systemd-resolve",pid=401,fd=13))
tcp   LISTEN 0      511               0.0.0.0:80         0.0.0.0:*    users:(("nginx",pid=813,fd=6),("nginx",pid=812,fd=6),("nginx",pid=812,fd=7))
tcp   LISTEN 0      4096                    *:9100             *:*    users:(("node exporter",pid=900,fd=3))
udp   UNCONN 0      0      [fe80::1%eth0]:123               [::]:*
`;

Deno.test("listening_sockets plans ss without -H (old iproute2 lacks it)", () => {
  const plan = asExec(listeningSockets.plan({}, localTarget()));
  assert.deepEqual(plan.commands, [SS]);
  assert.equal(plan.sudo, false);
  assert.equal(listeningSockets.capability, "network:read");
  assert.equal(listeningSockets.input.safeParse({ port: 22 }).success, false);
});

Deno.test("splitAddress() handles IPv4, IPv6, wildcards and interface scopes", () => {
  const cases: [string, string, number | null][] = [
    ["0.0.0.0:22", "0.0.0.0", 22],
    ["[::]:22", "::", 22],
    ["*:68", "*", 68],
    ["127.0.0.53%lo:53", "127.0.0.53%lo", 53],
    ["[fe80::1%eth0]:123", "fe80::1%eth0", 123],
    ["*:*", "*", null],
  ];
  for (const [local, address, port] of cases) {
    assert.deepEqual(splitAddress(local), { address, port });
  }
});

Deno.test("parseSs() reads sockets, processes (deduplicated by pid) and sorts by port", () => {
  const sockets = parseSs(OUTPUT);
  assert.deepEqual(sockets.map((s) => `${s.protocol}/${s.port}`), [
    "udp/53",
    "tcp/80",
    "udp/123",
    "tcp/2024",
    "tcp/9100",
    "udp/18766",
  ]);
  assert.deepEqual(sockets[1].processes, [{ name: "nginx", pid: 813 }, {
    name: "nginx",
    pid: 812,
  }]);
  assert.deepEqual(sockets[3].processes, []);
  assert.deepEqual(sockets[4].processes, [{ name: "node exporter", pid: 900 }]);
  assert.equal(sockets[5].address, "::1");
});

Deno.test("listening_sockets maps failures to stable codes and renders briefly", () => {
  const out = listeningSockets.parse(exec(cmd(SS, OUTPUT)), {});
  assert.match(
    listeningSockets.render(out),
    /^6 listening sockets\nudp 127\.0\.0\.53%lo:53 systemd-resolve\[401\]/,
  );
  const cases: [ReturnType<typeof exec>, string][] = [
    [exec(cmd(SS, "", { exitCode: 127, stderr: "sh: 1: ss: not found" })), "program_missing"],
    [exec(cmd(SS, "Active Internet connections (only servers)\n")), "bad_output"],
    [exec(cmd(SS, "", { exitCode: 255, stderr: "ss: invalid option -- 'p'" })), "bad_output"],
  ];
  for (const [result, code] of cases) {
    assert.throws(() => listeningSockets.parse(result, {}), { code });
  }
});

Deno.test({
  name: "listening_sockets parses this machine's real ss output",
  ignore: !has("ss"),
  fn: async () => {
    const out = listeningSockets.parse(
      await runPlan(asExec(listeningSockets.plan({}, localTarget()))),
      {},
    );
    assert.ok(out.sockets.every((s) => s.protocol === "tcp" || s.protocol === "udp"));
  },
});
