/**
 * The API server stand-in as its own process, for benchmarks: no recording, N pods in
 * `bench`, one line of JSON on stdout ({url, caPem, tokens}), then it runs until stdin closes.
 */
import { startFakeApiServer } from '../../support/fake-apiserver/index.ts';

const pods = Number(process.argv[2] ?? 5000);
const api = await startFakeApiServer({ record: false, watchDefaultTimeoutSeconds: 3600 });
for (let i = 0; i < pods; i++) {
  api.addPod({ namespace: 'bench', name: `pod-${String(i).padStart(5, '0')}`, containers: [{ name: 'c', image: 'registry.example/app:1.0' }], labels: { app: 'bench', shard: String(i % 16) } });
}
api.addPod({ namespace: 'default', name: 'small', containers: [{ name: 'c' }] });
process.stdout.write(`${JSON.stringify({ url: api.url, caPem: api.caPem, tokens: api.tokens, kubeconfig: api.kubeconfig({ token: api.tokens.proxy }), adminKubeconfig: api.kubeconfig() })}\n`);
process.stdin.resume();
process.stdin.on('end', () => void api.close().then(() => process.exit(0)));
