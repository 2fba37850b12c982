/**
 * deploy/Dockerfile runs `npm ci` and then `COPY . .`: the build context must not carry the
 * host's own node_modules, dist/ or scratch over what the image built. .dockerignore is
 * matched here with Docker's rules for the patterns it uses (relative to the context root,
 * `*` and `?` within one path element, `**` across any number, a match excludes everything
 * below it, `!` re-includes, the last match wins).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../../support/bed.ts';

function patternsOf(text: string): { negate: boolean; re: RegExp }[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const p = (negate ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
      let re = '';
      for (let i = 0; i < p.length; i++) {
        const ch = p[i]!;
        if (p.startsWith('**/', i)) {
          re += '(?:.*/)?';
          i += 2;
        } else if (p.startsWith('**', i)) {
          re += '.*';
          i += 1;
        } else if (ch === '*') re += '[^/]*';
        else if (ch === '?') re += '[^/]';
        else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}(?:/.*)?$`) };
    });
}

function excluded(patterns: readonly { negate: boolean; re: RegExp }[], path: string): boolean {
  let out = false;
  for (const p of patterns) if (p.re.test(path)) out = !p.negate;
  return out;
}

describe('.dockerignore', () => {
  // Bug (docs-vs-deployment review): with no .dockerignore, `COPY . .` after `npm ci` copied
  // the host's node_modules, dist and .tmp over the image's.
  it('keeps the host\'s installed modules, build output and scratch out of the Dockerfile\'s context, and every source the build reads in it', () => {
    const dockerfile = readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
    expect(dockerfile.indexOf('RUN npm ci')).toBeLessThan(dockerfile.indexOf('COPY . .'));
    const patterns = patternsOf(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
    for (const p of ['node_modules', 'node_modules/node-pty/build/Release/pty.node', 'dist', 'dist/cli/main.js', '.tmp', '.tmp/x/y', '.git', 'coverage', 'deploy/build/x']) {
      expect(excluded(patterns, p), p).toBe(true);
    }
    // What git ignores is host state too (a file glob such as *.log at any depth, as git matches it).
    for (const line of readFileSync(join(REPO, '.gitignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))) {
      const sample = line.replace(/\/$/, '').replace('*', 'sample');
      expect(excluded(patterns, sample), line).toBe(true);
      if (line.startsWith('*')) expect(excluded(patterns, `test/fixtures/${sample}`), `${line} below the root`).toBe(true);
    }
    for (const p of ['package.json', 'package-lock.json', 'LICENSE', 'src/cli/main.ts', 'scripts/build-images.ts', 'scripts/build-image-launcher.c', 'tsconfig.json', 'deploy/Dockerfile']) {
      expect(excluded(patterns, p), p).toBe(false);
    }
  });
});
