// A benchmark workload: a log line every INTERVAL ms carrying the time it was written (ms since the epoch).
const interval = Number(process.argv[2] ?? 20);
let n = 0;
setInterval(() => console.log(`tick ${performance.timeOrigin + performance.now()} ${++n}`), interval);
