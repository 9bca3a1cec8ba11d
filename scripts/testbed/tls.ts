/**
 * Testbed: real TLS servers (`openssl s_server -www`) on loopback ports, one
 * per certificate, made with openssl in a temp dir: a valid self-signed
 * certificate for `tls.test` (SAN DNS:tls.test and IP:127.0.0.1), an expired
 * one, one not valid yet, and a leaf signed by a test CA served with that CA
 * (a chain of two). Stopped by PID; the temp dir is removed.
 *
 * @module
 */
import { freePort } from "./_sshd_util.ts";

/** The certificates served, by name. */
export const TLS_SERVERS = ["valid", "expired", "future", "chain"] as const;

/** One served certificate. */
export type TlsServerName = typeof TLS_SERVERS[number];

/** Why TLS tests cannot run here, or `undefined` when they can. */
export const OPENSSL_MISSING: string | undefined = (() => {
  for (const path of ["/usr/bin/openssl", "/bin/openssl", "/usr/local/bin/openssl"]) {
    try {
      if (Deno.statSync(path).isFile) return undefined;
    } catch {
      // Try the next.
    }
  }
  return "openssl is not installed (Debian package openssl)";
})();

const CA_CONFIG = [
  "[ca]",
  "default_ca = d",
  "[d]",
  "database = index.txt",
  "new_certs_dir = .",
  "serial = serial",
  "default_md = sha256",
  "policy = p",
  "copy_extensions = copy",
  "unique_subject = no",
  "[p]",
  "commonName = supplied",
  "",
].join("\n");

async function openssl(dir: string, args: readonly string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args: [...args], cwd: dir, stdin: "null" })
    .output();
  if (!out.success) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr).slice(0, 400)}`,
    );
  }
}

/** A request for `name` with a SAN, and its key. */
async function request(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-new",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}.test`,
    "-addext",
    `subjectAltName=DNS:${name}.test,DNS:tls.test,IP:127.0.0.1`,
  ]);
}

/** Self-signs `name`'s request for a fixed validity window (`openssl ca` takes dates). */
async function selfSign(dir: string, name: string, start: string, end: string): Promise<void> {
  await openssl(dir, [
    "ca",
    "-batch",
    "-config",
    "ca.cnf",
    "-selfsign",
    "-keyfile",
    `${name}.key`,
    "-in",
    `${name}.csr`,
    "-out",
    `${name}.pem`,
    "-startdate",
    start,
    "-enddate",
    end,
  ]);
}

function yymmdd(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
}

/** Running TLS servers. */
export class TlsTestbed {
  /** The temp dir (keys, certificates). */
  readonly dir: string;
  /** Each server's loopback port (on 127.0.0.1). */
  readonly ports: Readonly<Record<TlsServerName, number>>;
  readonly #processes: Deno.ChildProcess[];

  private constructor(
    dir: string,
    ports: Record<TlsServerName, number>,
    processes: Deno.ChildProcess[],
  ) {
    this.dir = dir;
    this.ports = ports;
    this.#processes = processes;
  }

  /**
   * Makes the certificates and starts one server each, waiting until each accepts connections.
   *
   * @returns The running testbed.
   * @throws {Error} When openssl is missing or a server does not listen within 20 s.
   */
  static async start(): Promise<TlsTestbed> {
    if (OPENSSL_MISSING) throw new Error(OPENSSL_MISSING);
    const dir = await Deno.makeTempDir({ prefix: "tailops-tls-" });
    const processes: Deno.ChildProcess[] = [];
    try {
      await Deno.writeTextFile(`${dir}/ca.cnf`, CA_CONFIG);
      await Deno.writeTextFile(`${dir}/index.txt`, "");
      await Deno.writeTextFile(`${dir}/serial`, "01\n");
      const now = Date.now();
      const day = 86_400_000;
      for (const name of ["valid", "expired", "future", "leaf", "ca"]) await request(dir, name);
      await selfSign(dir, "valid", yymmdd(new Date(now - day)), yymmdd(new Date(now + 30 * day)));
      await selfSign(dir, "expired", "20200101000000Z", "20200201000000Z");
      await selfSign(dir, "future", "20990101000000Z", "20991231000000Z");
      await selfSign(dir, "ca", yymmdd(new Date(now - day)), yymmdd(new Date(now + 365 * day)));
      await openssl(dir, [
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "10",
        "-copy_extensions",
        "copy",
        "-out",
        "chain-leaf.pem",
      ]);
      const ports = {} as Record<TlsServerName, number>;
      for (const name of TLS_SERVERS) {
        const port = freePort("127.0.0.1");
        const [cert, key] = name === "chain" ? ["chain-leaf.pem", "leaf.key"] : [
          `${name}.pem`,
          `${name}.key`,
        ];
        const chain = name === "chain" ? ["-cert_chain", "ca.pem"] : [];
        processes.push(
          new Deno.Command("openssl", {
            args: [
              "s_server",
              "-accept",
              `127.0.0.1:${port}`,
              "-cert",
              cert,
              "-key",
              key,
              ...chain,
              "-www",
              "-quiet",
            ],
            cwd: dir,
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).spawn(),
        );
        ports[name] = port;
      }
      for (const port of Object.values(ports)) await listening(port);
      return new TlsTestbed(dir, ports, processes);
    } catch (error) {
      for (const process of processes) stop(process);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Stops every server by PID and removes the temp dir. */
  async stop(): Promise<void> {
    for (const process of this.#processes) stop(process);
    await Promise.all(this.#processes.map((p) => p.status.catch(() => {})));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

function stop(process: Deno.ChildProcess): void {
  try {
    process.kill("SIGKILL");
  } catch {
    // Already gone.
  }
}

async function listening(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        throw new Error(`The TLS server on 127.0.0.1:${port} did not listen within 20 s`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
