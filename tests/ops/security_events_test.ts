import assert from "node:assert/strict";
import { parseSecurityEvents } from "../../src/ops/_auth_events.ts";
import { securityEvents } from "../../src/ops/security_events.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { asExec, cmd, exec, localTarget, sshTarget } from "./_host_helpers.ts";

// As OpenSSH 9.2's sshd writes them with -E (no prefix), then journal and syslog lines.
const LOG = `Server listening on 127.0.0.1 port 42425.
Invalid user nosuchuser from 127.0.0.1 port 57020
Connection closed by invalid user nosuchuser 127.0.0.1 port 57020 [preauth]
Failed publickey for tailops-test from 127.0.0.1 port 57032 ssh2: ED25519 SHA256:Uv
Accepted publickey for tailops-test from 127.0.0.1 port 57044 ssh2: ED25519 SHA256:ZW
2024-05-06T10:15:01+00:00 web-1 sshd[812]: Failed password for invalid user admin from 203.0.113.9 port 4242 ssh2
2024-05-06T10:15:02.5+0000 web-1 sudo[900]:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx
May  6 10:15:03 web-1 sudo:      bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/bin/sh
May  6 10:15:04 web-1 useradd[77]: new user: name=mallory, UID=1002, GID=1002, home=/home/mallory
May  6 10:15:05 web-1 usermod[78]: add 'mallory' to group 'sudo'
2024-05-06T10:15:06+00:00 web-1 passwd[79]: password changed for mallory
garbage line that is no event
`;

Deno.test("parseSecurityEvents() reads sshd, sudo and account events in every log shape", () => {
  const { events, lines } = parseSecurityEvents(LOG);
  assert.equal(lines, 12);
  assert.deepEqual(events.map((e) => [e.kind, e.user, e.source]), [
    ["ssh_invalid_user", "nosuchuser", "127.0.0.1"],
    ["ssh_failed", "tailops-test", "127.0.0.1"],
    ["ssh_accepted", "tailops-test", "127.0.0.1"],
    ["ssh_invalid_user", "admin", "203.0.113.9"],
    ["sudo", "alice", null],
    ["sudo_denied", "bob", null],
    ["account", "mallory", null],
    ["account", "mallory", null],
    ["account", "mallory", null],
  ]);
  assert.equal(events[0].time, null);
  assert.equal(events[3].time, "2024-05-06T10:15:01+00:00");
  assert.equal(events[5].time, "May  6 10:15:03");
  assert.equal(events[4].detail, "as root: /usr/bin/systemctl restart nginx");
});

Deno.test("security_events summarises counts and failed sources, and aggregates across targets", () => {
  const args = securityEvents.input.parse({ source: "auth_log" });
  const out = securityEvents.parse(
    exec(cmd(["tail"], LOG), cmd(["tail"], "", { exitCode: 1, stderr: "tail: cannot open" })),
    args,
  );
  assert.equal(out.counts.ssh_invalid_user, 2);
  assert.equal(out.counts.sudo_denied, 1);
  assert.deepEqual(out.failed_sources, [
    { name: "127.0.0.1", count: 2 },
    { name: "203.0.113.9", count: 1 },
  ]);
  const together = securityEvents.aggregate!([
    { target: "a", data: out },
    { target: "b", data: { ...out, users: ["alice"] } },
  ]);
  assert.deepEqual(together.data.failed_sources, [
    { name: "127.0.0.1", count: 4 },
    { name: "203.0.113.9", count: 2 },
  ]);
  assert.deepEqual(together.data.users_on_several_targets, [{
    user: "alice",
    targets: ["a", "b"],
  }]);
});

Deno.test("security_events plans journal identifiers, auth logs under sudo, and files under roots", () => {
  const journal = asExec(securityEvents.plan(
    securityEvents.input.parse({ since: "1d", until: "15m", lines: 100 }),
    sshTarget(["security_events"]),
  ));
  assert.equal(journal.sudo, true);
  assert.ok(journal.commands[0].includes("--identifier=sshd"));
  assert.ok(journal.commands[0].includes("--since=-1d"));
  assert.ok(
    journal.commands[0].every((a) => a.startsWith("-") || a === "journalctl" || a === "short-iso"),
  );
  const auth = asExec(
    securityEvents.plan(securityEvents.input.parse({ source: "auth_log" }), sshTarget()),
  );
  assert.equal(auth.sudo, false);
  assert.deepEqual(auth.commands[0], ["tail", "-n", "5000", "--", "/var/log/auth.log"]);
  const file = securityEvents.plan(
    securityEvents.input.parse({ source: "file", path: "/srv/logs/auth.log" }),
    localTarget(["/srv/logs"]),
  );
  assert.equal(file.kind, "fs_read");
  assert.equal(
    securityEvents.capabilityFor!(securityEvents.input.parse({ source: "file", path: "/x" })),
    "file:read",
  );
  assert.throws(
    () =>
      securityEvents.plan(
        securityEvents.input.parse({ source: "file", path: "/etc/shadow" }),
        localTarget(["/srv"]),
      ),
    (e) => e instanceof OperationError && e.code === "forbidden",
  );
  for (
    const bad of [
      { source: "file" },
      { path: "/var/log/auth.log" },
      { source: "auth_log", since: "1d" },
      { source: "file", path: "../etc/shadow" },
      { source: "file", path: "/srv/../etc/shadow" },
      { since: "--merge" },
      { lines: 50_001 },
      { source: "syslog" },
    ]
  ) {
    assert.equal(securityEvents.input.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

Deno.test("security_events says how to get a root-only log and when there is none", () => {
  const args = securityEvents.input.parse({ source: "auth_log" });
  const denied = cmd(["tail"], "", {
    exitCode: 1,
    stderr: "tail: cannot open '/var/log/auth.log' for reading: Permission denied",
  });
  assert.throws(
    () =>
      securityEvents.parse(
        exec(denied, cmd(["tail"], "", { exitCode: 1, stderr: "No such file" })),
        args,
      ),
    (e) => e instanceof OperationError && e.code === "forbidden" && /sudo list/.test(e.message),
  );
  const none = cmd(["tail"], "", {
    exitCode: 1,
    stderr: "tail: cannot open: No such file or directory",
  });
  assert.throws(
    () => securityEvents.parse(exec(none, none), args),
    (e) => e instanceof OperationError && e.code === "not_found",
  );
});
