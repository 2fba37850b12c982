// A benchmark workload: every connection to 127.0.0.1:PORT gets SIZE bytes, then FIN.
import { createServer } from 'node:net';

const [port, size] = process.argv.slice(2).map(Number);
const block = Buffer.alloc(1024 * 1024, 7);
createServer((socket) => {
  socket.on('error', () => socket.destroy());
  let left = size;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, block.length);
      left -= n;
      if (!socket.write(n === block.length ? block : block.subarray(0, n))) return void socket.once('drain', pump);
    }
    socket.end();
  };
  pump();
}).listen(port, '127.0.0.1');
console.log(`source listening on ${port}`);
