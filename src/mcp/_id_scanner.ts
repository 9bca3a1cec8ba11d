/**
 * Finds the top-level `"id"` of a JSON object fed to it in chunks, in
 * constant memory, so that a message too large to buffer can still be
 * answered with its own id. (The SDK client puts `id` after `params`, so the
 * id of a 50 MB call comes at its very end.)
 *
 * @module
 */
import { isRpcId, type RpcId } from "./rpc_message.ts";

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
/** Longest key or id token kept; anything longer is not `"id"` or not a usable id. */
const MAX_TOKEN = 300;

/** A streaming scanner for the top-level `"id"` member of one JSON object. */
export class IdScanner {
  #depth = 0;
  #inString = false;
  #escaped = false;
  /** At depth 1, the next string is a key (after `{` or `,`). */
  #expectKey = false;
  /** Bytes of the depth-1 key or id value being read; null when not capturing. */
  #token: number[] | null = null;
  #tokenIsKey = false;
  #lastKeyIsId = false;
  /** After the `:` of an `"id"` key, before its value. */
  #awaitingIdValue = false;
  #broken = false;
  #id: RpcId | null = null;

  /** The id found so far, or null. */
  get id(): RpcId | null {
    return this.#id;
  }

  /**
   * Feeds the next bytes of the message.
   *
   * @param bytes A chunk (without the line's newline).
   */
  push(bytes: Uint8Array): void {
    if (this.#broken || this.#id !== null) return;
    for (const byte of bytes) {
      if (this.#inString) {
        this.#keep(byte);
        if (this.#escaped) this.#escaped = false;
        else if (byte === BACKSLASH) this.#escaped = true;
        else if (byte === QUOTE) {
          this.#inString = false;
          this.#endToken();
          if (this.#id !== null) return;
        }
        continue;
      }
      if (this.#awaitingIdValue && this.#token !== null && !isValueEnd(byte)) {
        this.#keep(byte);
        continue;
      }
      if (this.#awaitingIdValue && this.#token !== null) {
        this.#endToken();
        if (this.#id !== null) return;
      }
      switch (byte) {
        case QUOTE:
          this.#inString = true;
          if (this.#depth === 1 && (this.#expectKey || this.#awaitingIdValue)) {
            this.#token = [byte];
            this.#tokenIsKey = this.#expectKey;
            this.#expectKey = false;
          }
          break;
        case OPEN_BRACE:
        case OPEN_BRACKET:
          if (this.#depth === 0 && byte !== OPEN_BRACE) return void (this.#broken = true);
          this.#awaitingIdValue = false;
          this.#depth++;
          this.#expectKey = this.#depth === 1;
          break;
        case CLOSE_BRACE:
        case CLOSE_BRACKET:
          this.#depth--;
          if (this.#depth <= 0) return void (this.#broken = true);
          break;
        case COMMA:
          if (this.#depth === 1) this.#expectKey = true;
          break;
        case COLON:
          if (this.#depth === 1 && this.#lastKeyIsId) this.#awaitingIdValue = true;
          this.#lastKeyIsId = false;
          break;
        case 0x20:
        case 0x09:
        case 0x0d:
        case 0x0a:
          break;
        default:
          // The first byte of a number or literal value of "id".
          if (this.#awaitingIdValue) {
            this.#token = [byte];
            this.#tokenIsKey = false;
          }
      }
    }
  }

  #keep(byte: number): void {
    if (this.#token === null) return;
    if (this.#token.length >= MAX_TOKEN) {
      // Too long to be "id" or a usable id: stop capturing this token.
      this.#token = null;
      this.#awaitingIdValue = false;
      return;
    }
    this.#token.push(byte);
  }

  #endToken(): void {
    const token = this.#token;
    this.#token = null;
    if (token === null) return;
    const text = new TextDecoder().decode(new Uint8Array(token));
    if (this.#tokenIsKey) {
      this.#lastKeyIsId = text === '"id"';
      return;
    }
    this.#awaitingIdValue = false;
    try {
      const value = JSON.parse(text);
      if (isRpcId(value)) this.#id = value;
    } catch {
      // Not a valid id token: no id.
    }
  }
}

function isValueEnd(byte: number): boolean {
  return byte === COMMA || byte === CLOSE_BRACE || byte === 0x20 || byte === 0x09 ||
    byte === 0x0d || byte === 0x0a;
}
