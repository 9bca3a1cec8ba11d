import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import type { DockerTarget } from "../../src/config/targets_schema.ts";
import { dockerPermissions } from "../../src/exec/docker_kind.ts";
import { dockerRegistry } from "./_docker_fixture.ts";

Deno.test("docker worker permissions allow the engines and nothing else", async () => {
  const testbed = await DockerdTestbed.start({ tls: true, image: false });
  const other = Deno.listen({ transport: "unix", path: `${testbed.dir}/other.sock` });
  const otherTcp = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const c = testbed.certificates!;
    const registry = await dockerRegistry([
      { id: "unix", socket: testbed.socket },
      { id: "tcp", host: testbed.tcp!, tls: { ca: "CA", cert: "CERT", key: "KEY" } },
    ], { CA: c.caCert, CERT: c.clientCert, KEY: c.clientKey });
    const permissions = dockerPermissions(registry.targets as DockerTarget[]);
    const port = Number(testbed.tcp!.split(":").at(-1));
    assert.deepEqual(permissions, {
      env: false,
      ffi: false,
      import: false,
      run: false,
      sys: false,
      read: [testbed.socket],
      write: [testbed.socket],
      net: [`unix:${testbed.socket}`, `127.0.0.1:${port}`],
    });
    const worker = new Worker(new URL("./_docker_probe_worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions },
    });
    const report = await new Promise<Record<string, string>>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage({
        socket: testbed.socket,
        otherSocket: `${testbed.dir}/other.sock`,
        engine: { hostname: "127.0.0.1", port },
        otherPort: (otherTcp.addr as Deno.NetAddr).port,
      });
    });
    worker.terminate();
    assert.deepEqual(report, {
      socket: "ok",
      engine: "ok",
      otherSocket: "NotCapable",
      otherPort: "NotCapable",
      readFile: "NotCapable",
      writeFile: "NotCapable",
      env: "NotCapable",
      run: "NotCapable",
      ffi: "NotCapable",
      sys: "NotCapable",
    });
  } finally {
    other.close();
    otherTcp.close();
    await testbed.close();
  }
});

Deno.test("a worker without the socket grant cannot open the engine socket", async () => {
  const dir = await Deno.makeTempDir();
  const listener = Deno.listen({ transport: "unix", path: `${dir}/docker.sock` });
  try {
    const worker = new Worker(new URL("./_docker_probe_worker.ts", import.meta.url), {
      type: "module",
      deno: { permissions: dockerPermissions([]) },
    });
    const report = await new Promise<Record<string, string>>((resolve) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.postMessage({
        socket: `${dir}/docker.sock`,
        otherSocket: `${dir}/docker.sock`,
        engine: { hostname: "127.0.0.1", port: 9 },
        otherPort: 9,
      });
    });
    worker.terminate();
    assert.equal(report.socket, "NotCapable");
    assert.equal(report.engine, "NotCapable");
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});
