/**
 * Private files in the state directory: created with mode 0600 inside
 * directories with mode 0700, written atomically, refused when readable by
 * others.
 *
 * @module
 */

/**
 * Creates a directory (and its parents) and restricts it to its owner.
 *
 * Needs `write` permission for the path.
 *
 * @param path The directory.
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  await Deno.chmod(path, 0o700);
}

async function writeTemp(path: string, text: string): Promise<string> {
  const temp = `${path}.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, text, { mode: 0o600, createNew: true });
  await Deno.chmod(temp, 0o600);
  return temp;
}

/**
 * Replaces a file atomically with mode 0600.
 *
 * Needs `write` permission for the directory.
 *
 * @param path The file.
 * @param text Its new content.
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  const temp = await writeTemp(path, text);
  await Deno.rename(temp, path);
}

/**
 * Creates a file with mode 0600 only if it does not exist yet; the content
 * appears complete or not at all, even when two processes race.
 *
 * Needs `write` permission for the directory.
 *
 * @param path The file.
 * @param text Its content.
 * @returns Whether this call created the file.
 */
export async function createPrivateFile(path: string, text: string): Promise<boolean> {
  const temp = await writeTemp(path, text);
  try {
    await Deno.link(temp, path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  } finally {
    await Deno.remove(temp);
  }
}

/**
 * Reads a private file, refusing one that group or others can access.
 *
 * Needs `read` permission for the path.
 *
 * @param path The file.
 * @returns Its content, or `undefined` when it does not exist.
 * @throws {Error} When the file is accessible to group or others.
 */
export async function readPrivateFile(path: string): Promise<string | undefined> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  const mode = info.mode === null ? null : info.mode & 0o777;
  if (mode !== null && (mode & 0o077) !== 0) {
    throw new Error(
      `Cannot use ${JSON.stringify(path)}: expected mode 0600, found 0${mode.toString(8)}`,
    );
  }
  return await Deno.readTextFile(path);
}
