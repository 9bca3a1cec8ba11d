/**
 * file_write as an operation: write roots, size cap, modes, base64, digests,
 * and what dry run and the audit log show.
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { FsWritePlan } from "../../src/exec/plan.ts";
import { fileWrite, MAX_WRITE_BYTES, sha256Hex } from "../../src/ops/file_write.ts";
import { OperationError } from "../../src/ops/operation.ts";

const registry = await parseTargets(
  `version: 1
targets:
  - id: box
    type: local
    capabilities: [file:write]
    files: { roots: [/srv], write_roots: [/etc/app] }
  - id: none
    type: local
    capabilities: [file:write]
    files: { roots: [/srv] }
`,
  "t.yaml",
);
const box = registry.get("box")!;

function plan(args: Record<string, unknown>, target = box): FsWritePlan {
  return fileWrite.plan(fileWrite.input.parse(args), target) as FsWritePlan;
}

Deno.test("file_write plans under the write roots only, never the read roots", () => {
  const p = plan({ path: "/etc/app/a.conf", content: "x=1\n", mode: "0600" });
  assert.equal(p.kind, "fs_write");
  assert.deepEqual(p.roots, ["/etc/app"]);
  assert.equal(p.mode, 0o600);
  assert.equal(p.sha256, sha256Hex(new TextEncoder().encode("x=1\n")));
  assert.equal(atob(p.content), "x=1\n");
  assert.throws(() => plan({ path: "/srv/a", content: "x" }), /outside the write roots/);
  assert.throws(
    () => plan({ path: "/etc/app/a", content: "x" }, registry.get("none")!),
    (e: OperationError) =>
      e.code === "forbidden" && /files.write_roots list is empty/.test(e.message),
  );
});

Deno.test("file_write refuses exec and special modes, bad base64 and content over the cap", () => {
  for (const mode of ["0755", "4644", "0777", "644x", "1644"]) {
    assert.equal(
      fileWrite.input.safeParse({ path: "/etc/app/a", content: "", mode }).success,
      false,
      mode,
    );
  }
  assert.throws(
    () => plan({ path: "/etc/app/a", content: "%%%", encoding: "base64" }),
    /expected base64/,
  );
  const big = btoa("x".repeat(MAX_WRITE_BYTES + 1));
  assert.throws(
    () => plan({ path: "/etc/app/a", content: big, encoding: "base64" }),
    (e: OperationError) => e.code === "too_large",
  );
  const bytes = plan({ path: "/etc/app/bin", content: btoa("\u0000\u00ff"), encoding: "base64" });
  assert.equal(bytes.sha256, sha256Hex(new Uint8Array([0, 255])));
});

Deno.test("file_write's audited arguments hold the content's digest and size, not the content", () => {
  const audited = fileWrite.auditArgs!(
    fileWrite.input.parse({ path: "/etc/app/a", content: "secret=1" }),
  );
  assert.deepEqual(audited.content, {
    sha256: sha256Hex(new TextEncoder().encode("secret=1")),
    bytes: 8,
  });
  assert.ok(!JSON.stringify(audited).includes("secret=1"));
});

Deno.test("file_write's dry run shows a unified diff against the current file", () => {
  const args = fileWrite.input.parse({ path: "/etc/app/a", content: "a\nB\nc\n" });
  const shown = fileWrite.describeCheck!({
    ok: true,
    result: {
      kind: "fs_read",
      path: "/etc/app/a",
      size: 6,
      content: "a\nb\nc\n",
      encoding: "utf-8",
      truncated: false,
    },
  }, args);
  assert.equal(shown.diff, "--- /etc/app/a\n+++ /etc/app/a\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
  assert.equal(shown.would_change, true);
  const same = fileWrite.describeCheck!({
    ok: true,
    result: {
      kind: "fs_read",
      path: "/etc/app/a",
      size: 6,
      content: "a\nB\nc\n",
      encoding: "utf-8",
      truncated: false,
    },
  }, args);
  assert.equal(same.would_change, false);
  assert.equal(same.diff, "");
});
