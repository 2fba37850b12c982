#!/usr/bin/env node
/**
 * The `shadowplane` command. Wiring only: each subcommand parses its options at the edge
 * (src/config) and calls into the library.
 *
 * Exit codes: 0 success, 1 failure (message on stderr with its error code), 2 usage error.
 */
import { ShadowplaneError } from '../errors.ts';

const USAGE = `shadowplane: trusted shadow control plane for confidential Kubernetes pods

usage: shadowplane <command> [options]

commands:
  proxy            run the attested proxy (inside a TEE)
  agent -- CMD...  run CMD as a confidential pod's workload, behind the in-pod agent
  verify           verify a proxy's attestation and write the dedicated kubeconfig
  keygen           make a user key and client certificate
  crl fetch        fetch and check the vendors' CRLs, for verifiers to hold (--crl)
  simulate init    create a simulated attestation platform (development only)
  manifest digest  print a manifest's digest (what the proxy's attestation binds)
  manifest check   validate a manifest (errors name the field) and summarise it
  manifest sign    the owner's signature of a manifest, for agents that pin the owner key
  inject -f FILE   add the agent to the pod specs of FILE (client-side, deterministic)
  version          print the version (also --version)

Run 'shadowplane <command> --help' (or -h) for a command's options.`;

type Command = (argv: readonly string[]) => Promise<number>;

const commands: Readonly<Record<string, () => Promise<Command>>> = {
  proxy: async () => (await import('./proxy.ts')).runProxyCommand,
  agent: async () => (await import('./agent.ts')).runAgentCommand,
  verify: async () => (await import('./verify.ts')).runVerifyCommand,
  keygen: async () => {
    const { runKeygen } = await import('./keygen.ts');
    return (argv) => runKeygen(argv, process.stdout);
  },
  crl: async () => (await import('./crl.ts')).runCrlCommand,
  simulate: async () => (await import('./simulate.ts')).runSimulateCommand,
  manifest: async () => (await import('./manifest.ts')).runManifestCommand,
  inject: async () => (await import('./inject.ts')).runInjectCommand,
  version: () =>
    Promise.resolve(async () => {
      const { readFile } = await import('node:fs/promises');
      const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      process.stdout.write(`shadowplane ${pkg.version} (Node.js ${process.version})\n`);
      return 0;
    }),
};

async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  const name = first === '--version' ? 'version' : first;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`shadowplane: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  const command = await load();
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ShadowplaneError) {
      process.stderr.write(`shadowplane: ${err.code}: ${err.message}\n`);
      process.exitCode = err.code === 'SP_USAGE' ? 2 : 1;
    } else {
      // A file error that no command turned into a catalogue error is a bug, but its errno
      // code and system call (never a message, which could quote data) say where to look.
      const { code, syscall }: Partial<NodeJS.ErrnoException> = err instanceof Error ? err : {};
      const errno = typeof code === 'string' && typeof syscall === 'string' ? ` (${code} from ${syscall})` : '';
      process.stderr.write(`shadowplane: SP_INTERNAL: unexpected ${err instanceof Error ? err.name : 'error'}${errno}\n`);
      process.exitCode = 1;
    }
  },
);
