/**
 * Reads a byte stream to its end, keeping at most a cap of it. The rest is
 * drained and counted, so memory stays bounded however much a program writes.
 *
 * @module
 */

/** What was kept of a stream. */
export interface Capped {
  /** The first bytes, at most the cap. */
  readonly bytes: Uint8Array;
  /** Total bytes seen. */
  readonly total: number;
  /** Whether bytes were dropped. */
  readonly truncated: boolean;
}

/**
 * Reads a stream, keeping at most `cap` bytes.
 *
 * @param stream The stream.
 * @param cap Bytes to keep.
 * @param onKept Hears each piece kept, as it arrives (a run's output stream).
 * @returns The kept bytes and the total count.
 */
export async function readCapped(
  stream: ReadableStream<Uint8Array>,
  cap: number,
  onKept?: (bytes: Uint8Array) => void,
): Promise<Capped> {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.byteLength;
    if (kept < cap) {
      const part = chunk.byteLength <= cap - kept ? chunk : chunk.subarray(0, cap - kept);
      chunks.push(part);
      kept += part.byteLength;
      onKept?.(part);
    }
  }
  const bytes = new Uint8Array(kept);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { bytes, total, truncated: total > kept };
}

/**
 * Decodes UTF-8, replacing invalid sequences (a cap may cut a character in two).
 *
 * @param bytes The bytes.
 * @returns The text.
 */
export function decodeText(bytes: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(bytes);
}
