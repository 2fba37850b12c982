/** Child processes for benchmarks: started, their first JSON line or a log line awaited, RSS read from /proc. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Child {
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export function startChild(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; waitFor: RegExp; stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<{ child: Child; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let text = '';
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${cmd} did not print ${opts.waitFor} in time: ${text.slice(-500)}`));
    }, opts.timeoutMs ?? 60_000);
    const stream = opts.stream === 'stderr' ? p.stderr : p.stdout;
    stream.on('data', (c: Buffer) => {
      if (timer.hasRef() === false) return;
      text += c.toString('utf8');
      const m = text.match(opts.waitFor);
      if (m) {
        clearTimeout(timer);
        timer.unref();
        resolve({
          child: {
            process: p,
            stop: () =>
              new Promise((r) => {
                if (p.exitCode !== null) return r();
                p.once('close', () => r());
                p.stdin?.end();
                p.kill('SIGTERM');
                setTimeout(() => p.kill('SIGKILL'), 3000).unref();
              }),
          },
          match: m,
        });
      }
    });
    (opts.stream === 'stderr' ? p.stdout : p.stderr).resume();
    p.once('exit', (code) => reject(new Error(`${cmd} exited (${code}) before ready: ${text.slice(-500)}`)));
  });
}

/** Resident set size of a process, in MB (Linux). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}

export function table(rows: Record<string, string | number>[]): string {
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: string | number): string => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 3 : 1)) : v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c] ?? '').length)));
  const line = (vals: string[]): string => `| ${vals.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => cell(r[c] ?? ''))))].join('\n');
}
