/**
 * Testbed: a read-only image registry (Distribution API v2, the few
 * endpoints a pull uses) on loopback, serving one image taken from a
 * testbed engine with `docker save`. An engine that pulls from it records a
 * repo digest for the image, as a pull from any registry does; dockerd
 * speaks plain HTTP to registries on 127.0.0.0/8 without configuration. No
 * other address is involved.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { DockerdTestbed } from "./dockerd.ts";

const MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json";

/** A running registry. */
export class RegistryTestbed {
  /** `127.0.0.1:PORT`: the image reference prefix. */
  readonly host: string;
  /** The repository:tag it serves, e.g. `tailops/app:1`. */
  readonly name: string;
  /** Requests it answered, `METHOD PATH` each (to show what reached it). */
  readonly requests: readonly string[];
  readonly #server: Deno.HttpServer;
  readonly #dir: string;

  private constructor(
    server: Deno.HttpServer,
    dir: string,
    served: { name: string; requests: readonly string[] },
  ) {
    this.#server = server;
    this.#dir = dir;
    this.name = served.name;
    this.requests = served.requests;
    this.host = `127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  }

  /**
   * Serves `image` of `engine` as `name` (`repository:tag`).
   *
   * Needs the docker CLI, `tar`, and a free loopback port.
   *
   * @param engine The engine holding the image.
   * @param options `image` (e.g. `busybox:1.36`) and `name` (e.g. `tailops/app:1`).
   * @returns The running registry; close it when done.
   */
  static async start(
    engine: DockerdTestbed,
    options: { image: string; name: string },
  ): Promise<RegistryTestbed> {
    const dir = await Deno.makeTempDir({ prefix: "tailops-registry-" });
    try {
      await engine.docker("save", "--output", `${dir}/image.tar`, options.image);
      const untar = await new Deno.Command("tar", {
        args: ["-xf", `${dir}/image.tar`, "-C", dir],
        stderr: "piped",
      }).output();
      if (!untar.success) throw new Error(new TextDecoder().decode(untar.stderr));
      // Both the classic and the OCI `docker save` layouts list their files in manifest.json.
      const [saved] = JSON.parse(await Deno.readTextFile(`${dir}/manifest.json`)) as {
        Config: string;
        Layers: string[];
      }[];
      const blobs = new Map<string, Uint8Array>();
      const blob = async (file: string) => {
        const bytes = await Deno.readFile(`${dir}/${file}`);
        const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
        blobs.set(digest, bytes);
        return { size: bytes.length, digest };
      };
      const config = await blob(saved.Config);
      const layers = [];
      // Uncompressed tars: dockerd detects the compression of what it pulls.
      for (const layer of saved.Layers) {
        layers.push({
          mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
          ...await blob(layer),
        });
      }
      const manifest = new TextEncoder().encode(JSON.stringify({
        schemaVersion: 2,
        mediaType: MANIFEST_TYPE,
        config: { mediaType: "application/vnd.docker.container.image.v1+json", ...config },
        layers,
      }));
      const manifestDigest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
      const [repository, tag] = options.name.split(":");
      const requests: string[] = [];
      const server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        (request) => {
          const path = new URL(request.url).pathname;
          requests.push(`${request.method} ${path}`);
          const head = request.method === "HEAD";
          const send = (body: Uint8Array, headers: Record<string, string>) =>
            new Response(head ? null : body as Uint8Array<ArrayBuffer>, {
              headers: { "content-length": String(body.length), ...headers },
            });
          const api = { "docker-distribution-api-version": "registry/2.0" };
          if (path === "/v2/") return send(new TextEncoder().encode("{}"), api);
          const prefix = `/v2/${repository}/`;
          if (
            path === `${prefix}manifests/${tag}` || path === `${prefix}manifests/${manifestDigest}`
          ) {
            return send(manifest, {
              ...api,
              "content-type": MANIFEST_TYPE,
              "docker-content-digest": manifestDigest,
            });
          }
          const found = path.startsWith(`${prefix}blobs/`)
            ? blobs.get(path.slice(`${prefix}blobs/`.length))
            : undefined;
          if (found) {
            return send(found, { ...api, "content-type": "application/octet-stream" });
          }
          return new Response(null, { status: 404, headers: api });
        },
      );
      return new RegistryTestbed(server, dir, { name: options.name, requests });
    } catch (error) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** Stops serving and removes the temp dir. */
  async close(): Promise<void> {
    await this.#server.shutdown();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
