/**
 * Helpers for the dockerd testbed: running programs, test certificates made
 * with openssl, the busybox test image, and unmounting what dockerd leaves
 * under its data root.
 *
 * @module
 */

/** The Debian docker.io CLI (API 1.41), used for `import` and `run`. */
export const DOCKER_CLI = "/usr/bin/docker";

/**
 * Runs a program and returns its stdout.
 *
 * @param program Absolute path or bare name.
 * @param args Arguments.
 * @param options `cwd` and `stdin` text.
 * @returns Trimmed stdout.
 * @throws {Error} When the program exits non-zero (stderr included).
 */
export async function run(
  program: string,
  args: readonly string[],
  options: { cwd?: string; stdin?: string } = {},
): Promise<string> {
  const child = new Deno.Command(program, {
    args: [...args],
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(`${program} ${args.join(" ")} failed: ${text.decode(out.stderr).trim()}`);
  }
  return text.decode(out.stdout).trim();
}

/** PEM material for a TLS engine test. */
export interface TestCertificates {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second, unrelated CA: a client trusting it must refuse the engine. */
  readonly wrongCaCert: string;
  /** Where the files were written (`ca.pem`, `server.pem`, ...). */
  readonly files: Readonly<
    Record<"ca" | "serverCert" | "serverKey" | "clientCert" | "clientKey" | "wrongCa", string>
  >;
}

/**
 * Generates a CA, a server certificate for 127.0.0.1/localhost, a client
 * certificate, and an unrelated CA, with openssl (EC P-256, one day).
 *
 * @param dir Directory to write the PEM files into.
 * @returns The PEM texts and file paths.
 * @throws {Error} When openssl fails.
 */
export async function generateCertificates(dir: string): Promise<TestCertificates> {
  const p = (name: string) => `${dir}/${name}`;
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["ca", "wrong-ca"]) {
    await run("openssl", [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      p(`${ca}-key.pem`),
      "-out",
      p(`${ca}.pem`),
      "-days",
      "1",
      "-subj",
      `/CN=tailops ${ca}`,
    ]);
  }
  const leaves = [
    [
      "server",
      "/CN=tailops engine",
      "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    ],
    ["client", "/CN=tailops gateway", "extendedKeyUsage=clientAuth\n"],
  ];
  for (const [name, subject, ext] of leaves) {
    await Deno.writeTextFile(p(`${name}.ext`), ext);
    await run("openssl", [
      "req",
      ...ec,
      "-keyout",
      p(`${name}-key.pem`),
      "-out",
      p(`${name}.csr`),
      "-subj",
      subject,
    ]);
    await run("openssl", [
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.pem"),
      "-CAkey",
      p("ca-key.pem"),
      "-CAcreateserial",
      "-out",
      p(`${name}.pem`),
      "-days",
      "1",
      "-extfile",
      p(`${name}.ext`),
    ]);
  }
  const files = {
    ca: p("ca.pem"),
    serverCert: p("server.pem"),
    serverKey: p("server-key.pem"),
    clientCert: p("client.pem"),
    clientKey: p("client-key.pem"),
    wrongCa: p("wrong-ca.pem"),
  };
  const read = (path: string) => Deno.readTextFile(path);
  return {
    caCert: await read(files.ca),
    serverCert: await read(files.serverCert),
    serverKey: await read(files.serverKey),
    clientCert: await read(files.clientCert),
    clientKey: await read(files.clientKey),
    wrongCaCert: await read(files.wrongCa),
    files,
  };
}

const IMAGE_PROGRAMS = ["sh", "echo", "sleep", "head", "cat", "yes", "seq", "true", "env", "ls"];

/**
 * Builds a test image from Debian's busybox-static with `docker import` (no
 * registry is reachable here).
 *
 * @param socket The engine's unix socket.
 * @param options `tag` (default `tailops-test:latest`), a scratch `dir`, and more busybox
 *   `programs` to link into `/bin`.
 * @returns The tag.
 * @throws {Error} When busybox-static is missing or the import fails.
 */
export async function buildTestImage(
  socket: string,
  options: { dir: string; tag?: string; programs?: readonly string[] },
): Promise<string> {
  const tag = options.tag ?? "tailops-test:latest";
  const root = `${options.dir}/rootfs`;
  await Deno.mkdir(`${root}/bin`, { recursive: true });
  await Deno.copyFile("/bin/busybox", `${root}/bin/busybox`);
  await Deno.chmod(`${root}/bin/busybox`, 0o755);
  for (const name of new Set([...IMAGE_PROGRAMS, ...options.programs ?? []])) {
    await Deno.symlink("busybox", `${root}/bin/${name}`);
  }
  const tarball = `${options.dir}/rootfs.tar`;
  await run("tar", ["-C", root, "-cf", tarball, "."]);
  await run(DOCKER_CLI, [
    "-H",
    `unix://${socket}`,
    "import",
    "--change",
    "ENV PATH=/bin",
    tarball,
    tag,
  ]);
  await Deno.remove(root, { recursive: true });
  return tag;
}

/**
 * Unmounts everything mounted at or under a directory, deepest first
 * (dockerd bind-mounts its data root onto itself and leaves it behind).
 *
 * @param dir An absolute directory.
 */
export async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((line) => line.split(" ")[4])
    .filter((point): point is string =>
      point !== undefined && (point === dir || point.startsWith(`${dir}/`))
    )
    .sort((a, b) => b.length - a.length);
  for (const point of mounts) {
    await run("umount", ["-l", point]).catch(() => {});
  }
}

/**
 * A TCP port free on 127.0.0.1 right now.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
