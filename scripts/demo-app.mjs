// The demo's confidential workload: an HTTP server on the pod's localhost that answers with
// a secret, and a log line with the secret every second.
import { createServer } from 'node:http';

const [port, secret] = process.argv.slice(2);
createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from the confidential pod: ${secret}\n`);
}).listen(Number(port), '127.0.0.1');
let n = 0;
const tick = () => console.log(`tick ${++n}: handled a request with ${secret}`);
console.log(`demo app listening on 127.0.0.1:${port}`);
tick();
setInterval(tick, 1000);
