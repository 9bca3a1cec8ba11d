/**
 * Run by late_socket_errors_test.ts: makes a node:net socket fail a write
 * after its peer closed and after every listener was removed (as the
 * PostgreSQL driver does on close), then says whether the process lived on.
 * `absorb` installs the gateway's guard first; `other` also rejects a
 * promise with an unrelated error, which must still end the process.
 *
 * @module
 */
import net from "node:net";
import { absorbLateSocketErrors } from "../../src/state/_late_socket_errors.ts";

const mode = Deno.args[0];
if (mode !== "bare") absorbLateSocketErrors();

const server = net.createServer((peer) => peer.destroy());
server.listen(0, "127.0.0.1", () => {
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, "127.0.0.1", () => {
    // A large write still in flight when the peer resets, its listeners gone.
    socket.write(new Uint8Array(32 * 1024 * 1024));
    socket.removeAllListeners();
  });
  setTimeout(() => {
    if (mode === "other") void Promise.reject(new Error("something else"));
    setTimeout(() => {
      console.log("alive");
      server.close();
      Deno.exit(0);
    }, 500);
  }, 1500);
});
