import assert from "node:assert/strict";
import { LOCAL_FILE_HELPER } from "../../src/exec/local_kind.ts";
import type { FsListResult, FsReadResult } from "../../src/exec/plan.ts";
import { listDirectory, readFile, rootsFor } from "../../src/ops/file.ts";
import { OperationError } from "../../src/ops/operation.ts";
import { localTarget, sshTarget } from "./_host_helpers.ts";

const ROOTS = ["/srv/app", "/var/log"];

Deno.test("read_file plans an fs_read with the target's roots and max_bytes as the cap", () => {
  const args = readFile.input.parse({ path: "/srv/app/config.yaml" });
  assert.deepEqual(args, { path: "/srv/app/config.yaml", max_bytes: 65536, offset: 0 });
  assert.deepEqual(
    readFile.plan({ ...args, max_bytes: 100, offset: 7 }, sshTarget("none", ROOTS)),
    {
      kind: "fs_read",
      path: "/srv/app/config.yaml",
      roots: ROOTS,
      offset: 7,
      timeoutMs: 30_000,
      outputCapBytes: 100,
    },
  );
  // The target's own cap (64 KiB here) wins over a larger request.
  const big = readFile.plan({ ...args, max_bytes: 1024 * 1024 }, localTarget(ROOTS));
  assert.equal(big.outputCapBytes, 65536);
  // Not argv: the local worker's file code runs readlink to check what it opened.
  assert.deepEqual(readFile.programs, [LOCAL_FILE_HELPER]);
});

Deno.test("read_file refuses paths outside the roots in plan(), at a / boundary", () => {
  const target = localTarget(ROOTS);
  for (const path of ["/srv/ap", "/srv/application/x", "/etc/shadow", "/var", "/"]) {
    assert.throws(() => readFile.plan({ path, max_bytes: 10, offset: 0 }, target), (e) => {
      assert.ok(e instanceof OperationError);
      assert.equal(e.code, "forbidden");
      assert.match(e.message, /outside the allowed roots of target "gw"/);
      return true;
    });
  }
  for (const path of ["/srv/app", "/srv/app/a/b.txt", "/var/log/syslog"]) {
    assert.equal(readFile.plan({ path, max_bytes: 10, offset: 0 }, target).kind, "fs_read");
  }
  assert.deepEqual(rootsFor("/etc/hosts", localTarget(["/"])), ["/"]);
});

Deno.test("read_file and list_directory refuse every path on a target without roots", () => {
  for (const target of [localTarget(), sshTarget()]) {
    assert.throws(() => readFile.plan({ path: "/etc/hosts", max_bytes: 10, offset: 0 }, target), {
      code: "forbidden",
      message: `Target "${target.id}" allows no file access: its files.roots list is empty`,
    });
    assert.throws(() => listDirectory.plan({ path: "/etc", limit: 10 }, target), {
      code: "forbidden",
    });
  }
});

Deno.test("read_file's schema refuses relative, dotted and odd paths and bad sizes", () => {
  const bad = [
    { path: "etc/passwd" },
    { path: "../etc/passwd" },
    { path: "/srv/app/../../etc/passwd" },
    { path: "/srv/app/./x" },
    { path: "/srv//app" },
    { path: "/srv/app/" },
    { path: "/srv/app\0/x" },
    { path: "" },
    { path: `/${"a".repeat(4096)}` },
    { path: "/srv/app/x", max_bytes: 0 },
    { path: "/srv/app/x", max_bytes: 1024 * 1024 + 1 },
    { path: "/srv/app/x", offset: -1 },
    { path: "/srv/app/x", offset: 1.5 },
    { path: "/srv/app/x", encoding: "base64" },
    { path: 7 },
  ];
  for (const args of bad) {
    assert.equal(readFile.input.safeParse(args).success, false, JSON.stringify(args).slice(0, 60));
  }
});

Deno.test("read_file passes the executor's content through and renders a short preview", () => {
  const result: FsReadResult = {
    kind: "fs_read",
    path: "/srv/app/real.yaml",
    size: 5000,
    content: "x".repeat(3000),
    encoding: "utf-8",
    truncated: true,
  };
  const out = readFile.parse(result, { path: "/srv/app/config.yaml", max_bytes: 3000, offset: 0 });
  assert.equal(out.path, "/srv/app/real.yaml");
  assert.equal(out.truncated, true);
  assert.ok(readFile.render(out).length < 2100);
  assert.throws(
    () => readFile.parse({ kind: "exec", commands: [] }, { path: "/x", max_bytes: 1, offset: 0 }),
    {
      code: "bad_output",
    },
  );
});

Deno.test("list_directory plans an fs_list, validates limit and passes entries through", () => {
  const target = localTarget(ROOTS);
  assert.deepEqual(listDirectory.plan(listDirectory.input.parse({ path: "/var/log" }), target), {
    kind: "fs_list",
    path: "/var/log",
    roots: ROOTS,
    maxEntries: 200,
    timeoutMs: 5000,
    outputCapBytes: 65536,
  });
  assert.throws(() => listDirectory.plan({ path: "/var/lib", limit: 5 }, target), {
    code: "forbidden",
  });
  for (
    const args of [{ path: "/var/log", limit: 0 }, { path: "/var/log", limit: 1001 }, {
      path: "/var/log/..",
    }, {
      path: "/var/log",
      recursive: true,
    }]
  ) {
    assert.equal(listDirectory.input.safeParse(args).success, false, JSON.stringify(args));
  }
  const result: FsListResult = {
    kind: "fs_list",
    path: "/var/log",
    entries: [
      { name: "syslog", type: "file", size: 1234, mtime: "2024-05-06T10:00:00.000Z", mode: "0640" },
      { name: "nginx", type: "directory", size: 4096, mtime: null, mode: "0755" },
    ],
    truncated: false,
  };
  const out = listDirectory.parse(result, { path: "/var/log", limit: 200 });
  assert.equal(out.entries.length, 2);
  assert.equal(listDirectory.render(out), "/var/log: 2 entries\n- syslog\nd nginx");
});

Deno.test("read_file parses a real file read the way the executor reports it", async () => {
  // No argv to run: emulate the fs_read executor on a real temporary file.
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/hello.txt`, "héllo\nworld\n");
    const plan = readFile.plan(
      { path: `${dir}/hello.txt`, max_bytes: 5, offset: 0 },
      localTarget([dir]),
    );
    assert.equal(plan.kind, "fs_read");
    const bytes = await Deno.readFile(`${dir}/hello.txt`);
    const out = readFile.parse({
      kind: "fs_read",
      path: `${dir}/hello.txt`,
      size: bytes.length,
      content: new TextDecoder().decode(bytes.subarray(0, plan.outputCapBytes)),
      encoding: "utf-8",
      truncated: bytes.length > plan.outputCapBytes,
    }, { path: `${dir}/hello.txt`, max_bytes: 5, offset: 0 });
    assert.equal(out.size, 13);
    assert.equal(out.truncated, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
