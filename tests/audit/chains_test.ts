import assert from "node:assert/strict";
import { auditChainPaths, listAuditChains, openAuditChain } from "../../src/audit/chains.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";

Deno.test("openAuditChain() gives each concurrent writer its own chain and a restart the first free one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-chains-" });
  try {
    const a = await openAuditChain(dir);
    const b = await openAuditChain(dir);
    const c = await openAuditChain(dir);
    assert.deepEqual([a.chain, b.chain, c.chain], [1, 2, 3]);
    assert.equal(a.log.path, `${dir}/audit.jsonl`);
    assert.equal(b.log.path, `${dir}/audit.2.jsonl`);
    await Promise.all([
      a.log.append({ event: "started" }),
      b.log.append({ event: "started" }),
      c.log.append({ event: "started" }),
    ]);
    await b.log.close();
    // Chain 2 is free again: the next writer continues it rather than starting a fourth.
    const again = await openAuditChain(dir);
    assert.equal(again.chain, 2);
    assert.equal(again.log.seq, 1);
    await again.log.append({ event: "stopped" });
    for (const open of [a, c, again]) await open.log.close();

    const chains = await listAuditChains(dir);
    assert.deepEqual(chains.map((x) => x.chain), [1, 2, 3]);
    for (const { path } of chains) assert.equal((await verifyAuditFile(path)).ok, true);
    assert.deepEqual(auditChainPaths(dir, 3), {
      log: `${dir}/audit.3.jsonl`,
      anchor: `${dir}/audit.3.anchor.json`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listAuditChains() ignores torn tails, anchors and look-alike names", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-chains-" });
  try {
    for (
      const name of [
        "audit.jsonl",
        "audit.12.jsonl",
        "audit.jsonl.torn-20261203T000000Z",
        "audit.anchor.json",
        "audit.0.jsonl",
        "audit.x.jsonl",
        "audit.02.jsonl",
      ]
    ) await Deno.writeTextFile(`${dir}/${name}`, "");
    await Deno.mkdir(`${dir}/audit.3.jsonl`);
    assert.deepEqual((await listAuditChains(dir)).map((x) => x.path), [
      `${dir}/audit.jsonl`,
      `${dir}/audit.12.jsonl`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
