import { fstatSync, mkdtempSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startPtyProcess, type ExecProcess } from '../../../src/agent/exec-process.ts';
import { PTY_INPUT_HIGH_WATER } from '../../../src/agent/pty-input.ts';

const CHUNK = Buffer.alloc(16 * 1024, 0x61);
const env = { PATH: '/usr/bin:/bin' };

/**
 * A program on a terminal in raw mode (a terminal in line mode discards what does not fit
 * a line, so it never fills): resolves once `script` runs, with what it printed after.
 */
async function tty(script: string): Promise<{ p: ExecProcess; output: () => string }> {
  const p = startPtyProcess({ command: '/bin/sh', args: ['-c', `stty raw -echo; echo ready; ${script}`], env, stdin: true, stdout: true, stderr: false }, { width: 80, height: 24 });
  let out = '';
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  p.onOutput((_which, chunk) => {
    out += chunk.toString();
    if (out.includes('ready')) ready();
  });
  await isReady;
  return { p, output: () => out.slice(out.indexOf('ready') + 5) };
}

/** Writes CHUNK until write() says stop (at most `max` chunks); how many were taken. */
function fill(p: ExecProcess, max: number): number {
  for (let i = 1; i <= max; i++) if (!p.write(CHUNK)) return i;
  return max;
}

describe('terminal input', () => {
  // Bug: node-pty's write() queued a paste without bound while the program did not read,
  // and retried on every turn of the event loop (16 MiB of input, about a fifth of a core).
  it('holds the writer back while the program does not read, instead of queueing every byte', async () => {
    const { p } = await tty('sleep 30');
    try {
      const taken = fill(p, 1024);
      // The terminal takes some (its own buffer), then the queue reaches its high-water mark.
      expect(taken).toBeLessThan(1024);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(p.write(CHUNK)).toBe(false);
      expect(taken * CHUNK.length).toBeLessThan(PTY_INPUT_HIGH_WATER + 1024 * 1024);
    } finally {
      p.kill('SIGKILL');
      await p.exited;
    }
  });

  it('drains to a program that reads, every byte, with drains between', async () => {
    // The program counts what it read and prints the count.
    const { p, output } = await tty('head -c 1048576 | wc -c');
    let drains = 0;
    p.onInputDrain(() => drains++);
    let sent = 0;
    while (sent < 1024 * 1024) {
      const ok = p.write(CHUNK);
      sent += CHUNK.length;
      if (!ok) await new Promise<void>((resolve) => p.onInputDrain(resolve));
    }
    expect(await p.exited).toBe(0);
    expect(output().trim()).toBe('1048576');
    expect(drains).toBeGreaterThan(0);
  });

  it('releases a held-back writer when the program exits, and ignores input after', async () => {
    const { p } = await tty('sleep 0.5');
    const drained = new Promise<void>((resolve) => p.onInputDrain(resolve));
    fill(p, 1024);
    expect(p.write(CHUNK)).toBe(false);
    await p.exited;
    await drained;
    expect(p.write(CHUNK)).toBe(true);
  });

  // Bug (review of f0f79c8): input went on to node-pty's descriptor after node-pty had
  // closed it (the program closed its terminal: nohup), and the next exec -t session got
  // the same descriptor number: one user's keystrokes were read by another's shell.
  it('sends no input on after the program closed its terminal, even when another terminal takes the descriptor number', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-pty-'));
    try {
      const a = startPtyProcess({ command: '/usr/bin/nohup', args: ['/bin/sleep', '3'], env, cwd: dir, stdin: true, stdout: true, stderr: false }, { width: 80, height: 24 });
      a.onOutput(() => undefined);
      let aExited = false;
      void a.exited.then(() => (aExited = true));
      // nohup takes its input from /dev/null and its output to nohup.out: the terminal closes.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { p: b, output } = await tty('read line; echo "B read: $line"');
      a.write(Buffer.from('typed by A\n'));
      b.write(Buffer.from('typed by B\n'));
      expect(await b.exited).toBe(0);
      expect(aExited).toBe(false);
      expect(output()).toContain('B read: typed by B');
      expect(output()).not.toContain('typed by A');
      a.kill('SIGKILL');
      await a.exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Bug (review of 02531ca): node-pty closes its descriptor 200 ms after the program exits
  // while a background job still holds the terminal, and says `close` only at the end of
  // that event-loop turn: a resize in between went to the terminal that took the number.
  it('sends no resize to a terminal that took the descriptor number before node-pty said close', async () => {
    const masters = (): Set<number> => {
      const found = new Set<number>();
      for (const n of readdirSync('/proc/self/fd')) {
        try {
          if (readlinkSync(`/proc/self/fd/${n}`).endsWith('ptmx')) found.add(Number(n));
        } catch {
          // Gone meanwhile.
        }
      }
      return found;
    };
    const before = masters();
    const a = startPtyProcess({ command: '/bin/sh', args: ['-c', "trap '' HUP; sleep 3 & exit 0"], env, stdin: true, stdout: true, stderr: false }, { width: 80, height: 24 });
    a.onOutput(() => undefined);
    const fdA = [...masters()].find((n) => !before.has(n))!;
    // The turn in which node-pty closes the descriptor, before its close event.
    await new Promise<void>((resolve) => {
      const poll = (): void => {
        try {
          fstatSync(fdA);
          setImmediate(poll);
        } catch {
          resolve();
        }
      };
      setImmediate(poll);
    });
    const b = startPtyProcess({ command: '/bin/sh', args: ['-c', 'sleep 0.5; echo "size $(stty size)"'], env, stdin: true, stdout: true, stderr: false }, { width: 80, height: 24 });
    let out = '';
    b.onOutput((_which, chunk) => (out += chunk.toString()));
    expect(masters().has(fdA)).toBe(true); // B has A's old number
    a.resize(132, 50);
    a.write(Buffer.from('typed by A\n'));
    await b.exited;
    expect(out).toContain('size 24 80');
    expect(out).not.toContain('typed by A');
    a.kill('SIGKILL');
    await a.exited;
  });
});
