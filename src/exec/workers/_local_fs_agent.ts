/**
 * The local worker's file helper: one long-lived `perl` process that does,
 * on request, the few things a sandboxed worker cannot do itself — read where
 * an opened descriptor really is (`readlink /proc/PID/fd/N`), list an opened
 * directory, and create, link, rename or remove a name inside an opened
 * directory through its `/proc/PID/fd/DIRFD/NAME` link.
 *
 * Requests: `where FD` (the link's target), `list FD` (target, whether the
 * listing was cut, then `find -printf`-style records), `mktemp DIRFD PREFIX`
 * (a new file, `O_EXCL`, mode 0600; its name), `replace DIRFD TEMP NAME
 * BACKUP` (link NAME to BACKUP unless BACKUP is empty, rename TEMP over NAME,
 * then `dev:ino` of what NAME holds), `unlink DIRFD NAME`, `mkdir DIRFD NAME
 * MODE`.
 *
 * Why a process at all: Deno refuses `/proc/PID/fd` to anything short of
 * `--allow-all` and has no `openat()`, so the race-free checks must be made
 * by another process. Why one that stays: a spawn costs ~1.5 ms, about as
 * much as a whole call; a request on its pipe costs tens of microseconds.
 * It makes the system calls the one-shot helpers (`readlink`, `find`,
 * `mktemp`, `ln`, `mv`, `rm`, `mkdir`) made, on the same `/proc/PID/fd/…`
 * paths, so the race argument of `_local_fs.ts` and `_local_fs_write.ts` is
 * unchanged; a write's final check is now an `lstat` of the replaced name
 * through the same pinned link, right after the rename.
 *
 * perl-base is Essential on Debian and Ubuntu (always installed); only its
 * own modules are used (Fcntl, Errno; Time::HiRes for sub-second mtimes when
 * the fuller perl is there). The process is started on the first file
 * request, runs with an empty environment in `/`, answers requests one at a
 * time in order, and exits when its stdin closes: after {@linkcode IDLE_MS}
 * without requests, when the worker ends, or when the gateway dies.
 *
 * Wire format, both ways: `LENGTH\n` then LENGTH bytes of NUL-separated
 * fields. A request is `OP\0ARG…`; an answer is `ok\0…` or `err\0ERRNO\0TEXT`.
 *
 * @module
 */
import type { ExecFailure } from "../plan.ts";

/** A refusal with a stable code; the worker sends it back as the call's failure. */
export class FsFailure extends Error {
  /**
   * @param failure The code and message for the client.
   */
  constructor(readonly failure: ExecFailure) {
    super(failure.message);
  }
}

/**
 * The helper exits after this long without a request (the next one starts it
 * again, ~3 ms on a quiet machine): an idle perl holds ~6 MB RSS and no CPU.
 */
export const IDLE_MS = 120_000;

/** Bytes of listing records sent at most for one listing (1000 entries of long names fit). */
export const LIST_OUTPUT_CAP = 1024 * 1024;

/**
 * The helper program. Every path it touches is under `/proc/PID/fd/`; names
 * are single components (no `/`, not `.` or `..`), checked again here.
 */
const SCRIPT = String.raw`
use strict;
use Fcntl qw(O_WRONLY O_CREAT O_EXCL O_NOFOLLOW :mode);
my $hires = eval { require Time::HiRes; 1 };
my ($pid, $cap) = @ARGV;
binmode STDIN; binmode STDOUT; umask 0;
my @chars = ('A'..'Z', 'a'..'z', '0'..'9');
sub out { my $b = join("\0", @_); my $m = length($b) . "\n" . $b; my $o = 0;
  while ($o < length $m) { my $n = syswrite(STDOUT, $m, length($m) - $o, $o); exit 0 unless defined $n; $o += $n } }
sub fail { out('err', ($! + 0), "$!") }
sub fd { $_[0] =~ /^[0-9]+$/ or return undef; "/proc/$pid/fd/$_[0]" }
sub at { my $d = fd($_[0]); (defined $d && defined $_[1] && $_[1] =~ m{^[^/]+$} && $_[1] ne '.' && $_[1] ne '..') ? "$d/$_[1]" : undef }
sub bad { $! = 22; fail() }
sub kind { my $m = shift; S_ISREG($m) ? 'f' : S_ISDIR($m) ? 'd' : S_ISLNK($m) ? 'l' : S_ISFIFO($m) ? 'p' : S_ISSOCK($m) ? 's' : S_ISCHR($m) ? 'c' : S_ISBLK($m) ? 'b' : 'U' }
while (defined(my $line = <STDIN>)) {
  chomp $line; $line =~ /^[0-9]+$/ or exit 1;
  my $body = ''; read(STDIN, $body, $line) == $line or exit 1;
  my ($op, @a) = split /\0/, $body, -1;
  if ($op eq 'where') {
    my $p = fd($a[0]) // (bad(), next); my $t = readlink($p); defined $t ? out('ok', $t) : fail();
  } elsif ($op eq 'list') {
    my $p = fd($a[0]) // (bad(), next); my $t = readlink($p); defined $t or (fail(), next);
    opendir(my $dh, "$p/.") or (fail(), next);
    my ($recs, $cut) = ('', 0);
    while (defined(my $name = readdir $dh)) {
      next if $name eq '.' || $name eq '..';
      my @s = $hires ? Time::HiRes::lstat("$p/$name") : lstat("$p/$name");
      next unless @s;
      my $r = kind($s[2]) . "\t$s[7]\t$s[9]\t" . sprintf('%o', $s[2] & 07777) . "\n$name\0";
      if (length($recs) + length($r) > $cap) { $cut = 1; last }
      $recs .= $r;
    }
    closedir $dh; out('ok', $t, $cut, $recs);
  } elsif ($op eq 'mktemp') {
    my $d = fd($a[0]); my $made;
    defined $d && $a[1] =~ m{^[^/]+$} or (bad(), next);
    for (1 .. 100) {
      my $name = $a[1] . join('', map { $chars[rand @chars] } 1 .. 10);
      if (sysopen(my $fh, "$d/$name", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) { close $fh; $made = $name; last }
      last unless $!{EEXIST};
    }
    defined $made ? out('ok', $made) : fail();
  } elsif ($op eq 'replace') {
    my ($from, $to) = (at($a[0], $a[1]), at($a[0], $a[2])); defined $to && defined $from or (bad(), next);
    if ($a[3] ne '') {
      my $keep = at($a[0], $a[3]) // (bad(), next);
      my $ok = link($to, $keep);
      for (1 .. 3) { last if $ok || !$!{EEXIST}; unlink($keep); $ok = link($to, $keep) }
      $ok or (fail(), next);
    }
    rename($from, $to) or (fail(), next);
    my @s = lstat($to); out('ok', @s ? "$s[0]:$s[1]" : '');
  } elsif ($op eq 'unlink') {
    my $p = at($a[0], $a[1]) // (bad(), next);
    unlink($p) || $!{ENOENT} ? out('ok') : fail();
  } elsif ($op eq 'mkdir') {
    my $p = at($a[0], $a[1]) // (bad(), next);
    mkdir($p, oct($a[2])) || $!{EEXIST} ? out('ok') : fail();
  } else { bad() }
}
`;

interface Waiting {
  readonly resolve: (fields: Uint8Array) => void;
  readonly reject: (error: FsFailure) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** One running helper process and the requests it has not answered yet, in order. */
interface Running {
  readonly child: Deno.ChildProcess;
  readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly waiting: Waiting[];
  idle?: ReturnType<typeof setTimeout>;
}

const encoder = new TextEncoder();
const NUL = 0;

/** The helper for one `perl` path; started on the first request. */
export class FsAgent {
  #running: Running | undefined;

  readonly #idleMs: number;

  /**
   * @param perl The `perl` program's absolute path (`null`: not installed).
   * @param options `idleMs`: how long the helper may wait for a request before it is ended
   *   (default {@linkcode IDLE_MS}).
   */
  constructor(readonly perl: string | null, options: { idleMs?: number } = {}) {
    this.#idleMs = options.idleMs ?? IDLE_MS;
  }

  /**
   * Sends one request and waits for its answer.
   *
   * @param fields The operation and its arguments.
   * @param options `timeoutMs` bounds the wait (past it the process is killed);
   *   `failure` starts the message of a refusal.
   * @returns The answer's fields after `ok`, as bytes (NUL-separated).
   * @throws {FsFailure} `program_missing` without perl, `timeout`, or `forbidden` when the
   *   system call failed or the helper ended.
   */
  async ask(
    fields: readonly string[],
    options: { timeoutMs: number; failure: string },
  ): Promise<Uint8Array> {
    if (!this.perl) {
      throw new FsFailure({
        code: "program_missing",
        message: "perl is not installed on this host; file access on the gateway host needs it",
      });
    }
    if (fields.some((field) => field.includes("\0"))) {
      // Fields are NUL-separated: one inside a name would shift every later argument.
      throw new FsFailure({
        code: "forbidden",
        message: `${options.failure}: a name holds a NUL byte`,
      });
    }
    const running = this.#running ?? this.#start(this.perl);
    if (running.idle !== undefined) clearTimeout(running.idle);
    running.idle = undefined;
    const body = encoder.encode(fields.join("\0"));
    const frame = new Uint8Array([...encoder.encode(`${body.length}\n`), ...body]);
    const { failure, timeoutMs } = options;
    return await new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Answers come in order: one that is late holds every later one, so the process goes.
        this.#stop(running, {
          code: "timeout",
          message: `${failure}: the file helper did not answer within ${timeoutMs} ms`,
        });
      }, timeoutMs);
      running.waiting.push({
        timer,
        reject,
        resolve: (answer) => {
          const text = new TextDecoder().decode(answer.subarray(0, 4));
          if (text === "ok" || text.startsWith("ok\0")) resolve(answer.subarray(3));
          else {
            const [, , reason] = new TextDecoder().decode(answer).split("\0");
            reject(
              new FsFailure({
                code: "forbidden",
                message: `${failure}: ${fields[0]} failed (${reason ?? "no reason given"})`,
              }),
            );
          }
        },
      });
      running.writer.write(frame).catch(() => {
        this.#stop(running, { code: "forbidden", message: `${failure}: the file helper ended` });
      });
    });
  }

  /**
   * Ends the helper process now, failing what still waits on it; the next request starts a
   * new one.
   *
   * @returns Once the process has ended.
   */
  async close(): Promise<void> {
    const running = this.#running;
    if (!running) return;
    this.#stop(running, { code: "forbidden", message: "The file helper was closed" });
    await running.child.status;
  }

  #start(perl: string): Running {
    const child = new Deno.Command(perl, {
      args: ["-e", SCRIPT, "--", String(Deno.pid), String(LIST_OUTPUT_CAP)],
      clearEnv: true,
      cwd: "/",
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const running: Running = { child, writer: child.stdin.getWriter(), waiting: [] };
    this.#running = running;
    void this.#read(running);
    child.status.then(() => {
      this.#stop(running, { code: "forbidden", message: "The file helper ended unexpectedly" });
    });
    return running;
  }

  /** Hands each answer to the oldest waiting request. */
  async #read(running: Running): Promise<void> {
    let pending = new Uint8Array(0);
    try {
      for await (const chunk of running.child.stdout) {
        const joined = new Uint8Array(pending.length + chunk.length);
        joined.set(pending);
        joined.set(chunk, pending.length);
        pending = joined;
        for (;;) {
          const newline = pending.indexOf(10);
          if (newline < 0) break;
          const length = Number(new TextDecoder().decode(pending.subarray(0, newline)));
          if (!Number.isSafeInteger(length) || length < 0) {
            // Never printed by the script above; if it were, no later answer could be trusted.
            this.#stop(running, { code: "forbidden", message: "The file helper answered garbage" });
            return;
          }
          if (pending.length < newline + 1 + length) break;
          const answer = pending.slice(newline + 1, newline + 1 + length);
          pending = pending.slice(newline + 1 + length);
          const waiter = running.waiting.shift();
          if (!waiter) continue;
          clearTimeout(waiter.timer);
          waiter.resolve(answer);
        }
        if (running.waiting.length === 0 && this.#running === running) this.#idleLater(running);
      }
    } catch {
      // The process was killed; #stop fails what is still waiting.
    }
  }

  #idleLater(running: Running): void {
    const idle = setTimeout(() => {
      if (running.waiting.length > 0) return;
      // Closing stdin ends the helper (it reads EOF); the next request starts a new one.
      if (this.#running === running) this.#running = undefined;
      running.writer.close().catch(() => {});
    }, this.#idleMs);
    Deno.unrefTimer(idle);
    running.idle = idle;
  }

  /** Ends this process (if it still runs) and fails every request waiting on it. */
  #stop(running: Running, failure: { code: "timeout" | "forbidden"; message: string }): void {
    if (this.#running === running) this.#running = undefined;
    if (running.idle !== undefined) clearTimeout(running.idle);
    try {
      running.child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    for (const waiter of running.waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new FsFailure(failure));
    }
  }
}

/**
 * Splits an answer's bytes at the first `count` NULs.
 *
 * @param answer The bytes after `ok\0`.
 * @param count How many leading fields to cut off.
 * @returns The leading fields as text and the rest as bytes.
 */
export function leadingFields(
  answer: Uint8Array,
  count: number,
): { fields: string[]; rest: Uint8Array } {
  const fields: string[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const end = answer.indexOf(NUL, start);
    const stop = end < 0 ? answer.length : end;
    fields.push(new TextDecoder().decode(answer.subarray(start, stop)));
    start = Math.min(answer.length, stop + 1);
  }
  return { fields, rest: answer.subarray(start) };
}

const agents = new Map<string | null, FsAgent>();

/**
 * The worker's one agent for this `perl` path.
 *
 * @param perl The resolved path, or `null`.
 * @returns The shared agent.
 */
export function fsAgentFor(perl: string | null): FsAgent {
  let agent = agents.get(perl);
  if (!agent) agents.set(perl, agent = new FsAgent(perl));
  return agent;
}
