/**
 * Reading Docker Engine response bodies under a byte cap: whole bodies,
 * newline-delimited JSON streams, and the multiplexed log stream (an 8-byte
 * header per frame: stream id, three zero bytes, big-endian length).
 * Every reader stops pulling from the connection once the cap is reached, so
 * memory stays bounded whatever the engine sends.
 *
 * @module
 */

/** Bytes read and whether the cap cut them. */
export interface CappedBytes {
  readonly bytes: Uint8Array;
  readonly truncated: boolean;
}

/**
 * Reads a body up to `cap` bytes and stops.
 *
 * @param body The body stream.
 * @param cap Bytes kept at most.
 * @returns The bytes kept and whether more were available.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array>,
  cap: number,
): Promise<CappedBytes> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    const room = cap - size;
    parts.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    size += Math.min(room, chunk.length);
    if (chunk.length > room) return { bytes: join(parts, size), truncated: true };
  }
  return { bytes: join(parts, size), truncated: false };
}

/**
 * Reads newline-delimited JSON values (image pull progress) up to `cap` bytes.
 *
 * @param body The body stream.
 * @param cap Bytes read at most.
 * @returns Parsed values (lines that are not JSON are skipped) and whether the cap cut the stream.
 */
export async function readJsonLines(
  body: AsyncIterable<Uint8Array>,
  cap: number,
): Promise<{ values: unknown[]; truncated: boolean }> {
  const { bytes, truncated } = await readCapped(body, cap);
  const values: unknown[] = [];
  for (const line of new TextDecoder().decode(bytes).split("\n")) {
    if (line.trim() === "") continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      // A line cut by the cap, or noise: skipped.
    }
  }
  return { values, truncated };
}

/** Log output split by stream. */
export interface DemuxedLogs {
  readonly stdout: string;
  readonly stderr: string;
  readonly truncated: boolean;
}

/**
 * Reads container logs, demultiplexing stdout and stderr unless the
 * container has a TTY (then everything is stdout). The cap counts payload
 * bytes of both streams together.
 *
 * @param body The body stream.
 * @param options `cap` in bytes; `multiplexed` is false for TTY containers.
 * @returns The two streams as UTF-8 text and whether the cap cut them.
 * @throws {RangeError} When a frame header names a stream other than 0, 1 or 2.
 */
export async function demuxLogs(
  body: AsyncIterable<Uint8Array>,
  options: { cap: number; multiplexed: boolean },
): Promise<DemuxedLogs> {
  const logs = await demuxLogBytes(body, options);
  const decoder = new TextDecoder();
  return {
    stdout: decoder.decode(logs.stdout),
    stderr: decoder.decode(logs.stderr),
    truncated: logs.truncated,
  };
}

/** Log output split by stream, as bytes. */
export interface DemuxedLogBytes {
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly truncated: boolean;
}

/**
 * {@linkcode demuxLogs}, leaving the streams as bytes (a worker can then
 * hand long ones to the host without making strings of them).
 *
 * @param body The body stream.
 * @param options `cap` in bytes; `multiplexed` is false for TTY containers.
 * @returns The two streams' bytes and whether the cap cut them.
 * @throws {RangeError} When a frame header names a stream other than 0, 1 or 2.
 */
export async function demuxLogBytes(
  body: AsyncIterable<Uint8Array>,
  options: { cap: number; multiplexed: boolean },
): Promise<DemuxedLogBytes> {
  if (!options.multiplexed) {
    const { bytes, truncated } = await readCapped(body, options.cap);
    return { stdout: bytes, stderr: new Uint8Array(0), truncated };
  }
  const out = { 1: [] as Uint8Array[], 2: [] as Uint8Array[] };
  let kept = 0;
  let pending: Uint8Array = new Uint8Array(0);
  for await (const chunk of body) {
    pending = pending.length === 0 ? chunk : join([pending, chunk], pending.length + chunk.length);
    while (pending.length >= 8) {
      const stream = pending[0];
      if (stream > 2 || pending[1] !== 0 || pending[2] !== 0 || pending[3] !== 0) {
        throw new RangeError("Invalid log frame header");
      }
      const size = new DataView(pending.buffer, pending.byteOffset).getUint32(4);
      const available = Math.min(size, pending.length - 8);
      const room = options.cap - kept;
      if (available < size && available < room) break; // wait for the rest of the frame
      const take = Math.min(size, room);
      out[stream === 2 ? 2 : 1].push(pending.slice(8, 8 + take));
      kept += take;
      if (take < size) return finish(out, true);
      pending = pending.subarray(8 + size);
    }
  }
  return finish(out, false);
}

function finish(out: { 1: Uint8Array[]; 2: Uint8Array[] }, truncated: boolean): DemuxedLogBytes {
  const bytes = (parts: Uint8Array[]) => join(parts, parts.reduce((n, p) => n + p.length, 0));
  return { stdout: bytes(out[1]), stderr: bytes(out[2]), truncated };
}

function join(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1 && parts[0].length === size) return parts[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
