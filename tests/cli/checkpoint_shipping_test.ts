import assert from "node:assert/strict";
import dgram from "node:dgram";
import { checkpointShipper } from "../../src/cli/checkpoint_shipping.ts";
import { Secret } from "../../src/config/secret.ts";
import { AuditLog } from "../../src/audit/writer.ts";
import { testKey } from "../audit/_test_signer.ts";

/** A loopback port with nothing listening (bound, then closed). */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

Deno.test("a webhook that cannot be reached is counted and logged, and appends never wait for it", async () => {
  const shipper = checkpointShipper({
    webhook: { url: `http://127.0.0.1:${closedPort()}/hook`, secret: new Secret("env:X", "s") },
  });
  const key = await testKey();
  const log = await AuditLog.open(`${await Deno.makeTempDir()}/audit.jsonl`, {
    fsync: "never",
    checkpoint: { signer: key.signer, everyRecords: 1, onCheckpoint: shipper.onCheckpoint },
  });
  for (let i = 0; i < 3; i++) await log.append({ event: "decided", target: `t${i}` });
  await log.close();
  await shipper.drain();
  assert.equal(shipper.counts.shipped, 0);
  assert.equal(shipper.counts.failed, 4, "three periodic checkpoints and the final one");
});

Deno.test("syslog shipping sends one RFC 5424 message per checkpoint", async () => {
  const received: string[] = [];
  const socket = dgram.createSocket("udp4");
  socket.on("message", (m) => received.push(String(m)));
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  try {
    const shipper = checkpointShipper({
      syslog: { address: `127.0.0.1:${socket.address().port}`, facility: 4 },
    });
    const key = await testKey();
    const log = await AuditLog.open(`${await Deno.makeTempDir()}/audit.jsonl`, {
      fsync: "never",
      checkpoint: { signer: key.signer, everyRecords: 2, onCheckpoint: shipper.onCheckpoint },
    });
    for (let i = 0; i < 2; i++) await log.append({ event: "decided", target: `t${i}` });
    await log.close();
    await shipper.drain();
    for (let i = 0; i < 200 && received.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(shipper.counts.shipped, 2);
    assert.equal(received.length, 2);
    // Facility 4 (auth), severity 6 (info): PRI 38.
    assert.match(received[0], /^<38>1 \S+Z - tailops \d+ checkpoint - \{"seq":3,/);
    assert.equal(JSON.parse(received[1].slice(received[1].indexOf("{"))).checkpoint.final, true);
  } finally {
    socket.close();
  }
});
