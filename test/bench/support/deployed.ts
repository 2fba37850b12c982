/**
 * The proxy as deployed, for benchmarks: the compiled JavaScript the images run (not the
 * TypeScript sources through Node's type stripping, which costs memory of its own) and
 * the Node.js options the Deployment sets (deploy/kustomize/base/deployment.yaml).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export interface DeployedRuntime {
  /** dist/cli/main.js, freshly compiled from src. */
  readonly cli: string;
  /** The proxy container's NODE_OPTIONS, split into flags. */
  readonly nodeFlags: readonly string[];
}

/** Compiles src to dist (as `npm run build` does) and reads the Deployment's NODE_OPTIONS. */
export function deployedProxyRuntime(): DeployedRuntime {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO, stdio: 'inherit' });
  return { cli: `${REPO}dist/cli/main.js`, nodeFlags: deploymentNodeOptions() };
}

function deploymentNodeOptions(): string[] {
  const text = readFileSync(`${REPO}deploy/kustomize/base/deployment.yaml`, 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: { name: string; env?: { name: string; value?: string }[] }[] } } } };
    if (obj.kind !== 'Deployment') continue;
    for (const c of obj.spec?.template?.spec?.containers ?? []) {
      const value = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
      if (value !== undefined) return value.split(/\s+/).filter(Boolean);
    }
  }
  throw new Error('deploy/kustomize/base/deployment.yaml sets no NODE_OPTIONS for the proxy');
}
